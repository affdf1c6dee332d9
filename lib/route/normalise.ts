// The one reading of a request's path and host that routing, hashing and
// (with `normalize-path forward`) the upstream request line all share, so a
// rule cannot be escaped, or entered, by spelling the same path another way.
//
// Path (RFC 3986 §6.2.2, in that order):
//   1. percent-encodings of unreserved characters (ALPHA DIGIT - . _ ~) are
//      decoded; every other one stays encoded with upper-case hex, so %2F is
//      never a separator and %25 never decodes twice;
//   2. runs of '/' merge into one (as nginx's merge_slashes);
//   3. dot-segments are removed (RFC 3986 §5.2.4); one that would climb
//      above the root is an error, not clamped to '/'.
// Refused: invalid percent-encoding, a '#' (no request-target may carry a
// fragment, RFC 9112 §3.2) and a '\' (not a URI character, and a separator
// to some servers).
//
// Host (RFC 9110 §7.2, RFC 3986 §3.2.2-3.2.3): IP-literal (IPv6 only) or a
// name of unreserved characters in non-empty labels, then an optional port
// 0..65535. Userinfo, lists, sub-delims and percent-encodings are refused.
// One trailing dot is not part of the host that is matched.
//
// The scan is the hot path: a path with nothing to change costs one pass
// over its characters and allocates nothing.
import { isIPv6 } from 'node:net';

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const QUESTION = 0x3f;
const HASH = 0x23;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;

export const BAD_PERCENT = 'invalid percent-encoding in the path (RFC 3986 §2.1)';
export const FRAGMENT = 'a fragment (#) in the request target (RFC 9112 §3.2)';
export const BACKSLASH_IN_PATH = "a '\\' in the path (RFC 3986 §3.3)";
export const ABOVE_ROOT = 'the path climbs above the root (RFC 3986 §5.2.4)';

/** What scanPath found; reused by the caller, so the scan allocates nothing. */
export interface PathScan {
  end: number; // index of the '?' that ends the path, or the string's length
  changes: boolean; // normalising would change the path
}

/** Value of one hex digit's char code, or -1 (NaN, past the end, included). */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** RFC 3986 §2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === DOT || c === 0x5f || c === 0x7e
  );
}

/** s[i] is '.': is it a whole "." or ".." segment (ended by '/', '?', or the end)? */
function isDotSegment(s: string, i: number, n: number): boolean {
  let j = i + 1;
  if (j < n && s.charCodeAt(j) === DOT) j++;
  if (j === n) return true;
  const c = s.charCodeAt(j);
  return c === SLASH || c === QUESTION;
}

/**
 * Scans the path that starts at s[start] (a '/') up to its '?' or the end.
 * Returns null and fills `out`, or the reason the path is refused.
 */
export function scanPath(s: string, start: number, out: PathScan): string | null {
  const n = s.length;
  let changes = false;
  let i = start;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === QUESTION) break;
    if (c === SLASH) {
      if (changes || i + 1 === n) continue;
      const next = s.charCodeAt(i + 1);
      if (next === SLASH || (next === DOT && isDotSegment(s, i + 1, n))) changes = true;
    } else if (c === PERCENT) {
      const h1 = s.charCodeAt(i + 1);
      const h2 = s.charCodeAt(i + 2);
      const hi = hexValue(h1);
      const lo = hexValue(h2);
      if (hi < 0 || lo < 0) return BAD_PERCENT;
      // Decoded when unreserved; kept, upper-cased, otherwise.
      if (!changes && (isUnreserved(hi * 16 + lo) || h1 >= 0x61 || h2 >= 0x61)) changes = true;
      i += 2;
    } else if (c === HASH) return FRAGMENT;
    else if (c === BACKSLASH) return BACKSLASH_IN_PATH;
  }
  out.end = i;
  out.changes = changes;
  return null;
}

const HEX = '0123456789ABCDEF';

/**
 * The normalised form of s[start..end), a path scanPath accepted and found
 * `changes` in; or ABOVE_ROOT. Allocates: only called when the path changes.
 */
export function rebuildPath(s: string, start: number, end: number): string | typeof ABOVE_ROOT {
  // 1. Percent-encoding: decode unreserved, upper-case the rest.
  let decoded = '';
  let copied = start;
  for (let i = start; i < end; i++) {
    if (s.charCodeAt(i) !== PERCENT) continue;
    const hi = hexValue(s.charCodeAt(i + 1));
    const lo = hexValue(s.charCodeAt(i + 2));
    const byte = hi * 16 + lo;
    decoded += s.slice(copied, i) + (isUnreserved(byte) ? String.fromCharCode(byte) : '%' + HEX[hi] + HEX[lo]);
    i += 2;
    copied = i + 1;
  }
  decoded += s.slice(copied, end);
  // 2 and 3. Empty segments (from '//') merge, dot-segments go.
  const segments = decoded.split('/'); // [0] is the '' before the leading '/'
  const kept: string[] = [];
  let trailingSlash = false;
  for (let k = 1; k < segments.length; k++) {
    const seg = segments[k];
    const last = k === segments.length - 1;
    if (seg === '' || seg === '.') {
      trailingSlash = last;
    } else if (seg === '..') {
      if (kept.length === 0) return ABOVE_ROOT;
      kept.pop();
      trailingSlash = last;
    } else {
      kept.push(seg);
      trailingSlash = false;
    }
  }
  if (kept.length === 0) return '/';
  return '/' + kept.join('/') + (trailingSlash ? '/' : '');
}

const scratch: PathScan = { end: 0, changes: false };

/**
 * The normalised form of a path (a query, if given, is cut off), or
 * { error } with the reason it is refused (a 400). For tests and config
 * checks; the data path uses scanPath and rebuildPath on the target itself.
 */
export function normalisePath(path: string): string | { error: string } {
  if (path.charCodeAt(0) !== SLASH) return { error: 'not an absolute path' };
  const error = scanPath(path, 0, scratch);
  if (error !== null) return { error };
  if (!scratch.changes) return scratch.end === path.length ? path : path.slice(0, scratch.end);
  const rebuilt = rebuildPath(path, 0, scratch.end);
  return rebuilt === ABOVE_ROOT ? { error: ABOVE_ROOT } : rebuilt;
}

/**
 * Checks a Host field value or an absolute-form authority: host [":" port].
 * Returns the length of the host to match on (the port, and one trailing
 * dot, cut off), or -1 when the value is invalid. An empty value is valid
 * (RFC 9110 §7.2) and gives 0.
 */
export function hostLength(v: string): number {
  const n = v.length;
  if (n === 0) return 0;
  let i: number;
  let end: number;
  if (v.charCodeAt(0) === OPEN_BRACKET) {
    // IP-literal: IPv6address only, no IPvFuture and no zone (RFC 6874).
    const close = v.indexOf(']');
    if (close < 3) return -1;
    for (let j = 1; j < close; j++) {
      const c = v.charCodeAt(j);
      if (c !== COLON && c !== DOT && hexValue(c) < 0) return -1;
    }
    if (!isIPv6(v.slice(1, close))) return -1;
    i = end = close + 1;
  } else {
    let labelStart = 0;
    for (i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c === COLON) break;
      if (c === DOT) {
        if (i === labelStart) return -1; // an empty label: ".a", "a..b", "."
        labelStart = i + 1;
      } else if (!isUnreserved(c)) return -1;
    }
    end = i;
    if (end === 0) return -1; // ":80"
    if (labelStart === end) end--; // "a." and "a.:80": the root's dot is not matched
  }
  if (i < n) {
    if (v.charCodeAt(i) !== COLON) return -1; // "[::1]x"
    let port = 0;
    for (let j = i + 1; j < n; j++) {
      const d = v.charCodeAt(j) - 0x30;
      if (d < 0 || d > 9) return -1;
      port = port * 10 + d;
      if (port > 65535) return -1;
    }
  }
  return end;
}
