// What the router sees of one request. Built by the data path from llhttp's
// output; everything beyond method/url/headers is derived lazily so a rule set
// that only looks at the path never splits the Host or Cookie header.
//
// The target is read once (parse): its form (origin, absolute, asterisk), an
// absolute form's authority, and the normalised path (normalise.ts). Path
// rules, url-regex rules and hash keys all see the normalised path; the raw
// target stays in `url` and goes upstream unless the service sets
// `normalize-path forward`.
import { headerValue } from '../http/head-rewrite.ts';
import { ABOVE_ROOT, FRAGMENT, hostLength, rebuildPath, scanPath, type PathScan } from './normalise.ts';

const SLASH = 0x2f;
const QUESTION = 0x3f;

const F_ORIGIN = 0; // "/path?query" (RFC 9112 §3.2.1)
const F_ABSOLUTE = 1; // "http://authority/path?query" (§3.2.2)
const F_ASTERISK = 2; // "*" for OPTIONS (§3.2.4)

export class RequestView {
  method = '';
  url = '';
  // Flat [name, value, name, value, ...] exactly as llhttp delivered them.
  headers: string[] = [];
  clientAddress = '';
  /** The server name the client sent in its TLS handshake (lower-case, no trailing dot); '' on plain connections or without SNI. Set by the session per connection. */
  sni = '';

  private parsed = false;
  private error: string | null = null; // why the target is refused (400), once parsed
  private form = F_ORIGIN;
  private pathStart = 0; // where the path begins in url (absolute-form: after the authority)
  private pathEnd = 0; // the '?' that ends it, or url.length
  private normPath: string | null = null; // the path when normalising changed it (or it was empty, or '*')
  private authority: string | null = null; // an absolute-form target's, which replaces Host
  private readonly scan: PathScan = { end: 0, changes: false };

  private pathCache: string | null = null;
  private targetCache: string | null = null;
  private hostCache: string | null | undefined = undefined;

  reset(method: string, url: string, headers: string[], clientAddress: string): void {
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.clientAddress = clientAddress;
    this.parsed = false;
    this.error = null;
    this.normPath = null;
    this.authority = null;
    this.pathCache = null;
    this.targetCache = null;
    this.hostCache = undefined;
  }

  /**
   * Validates the target and the Host field value (`hostField`: the one
   * Host field, or null when there is none). Returns null when the request
   * may be routed, else why it is a 400. The data path calls it once per
   * request, before routing.
   */
  check(hostField: string | null): string | null {
    if (!this.parsed) this.parse();
    if (this.error !== null) return this.error;
    if (hostField !== null && hostLength(hostField) === -1)
      return 'invalid Host field value (RFC 9112 §3.2, RFC 9110 §7.2, RFC 3986 §3.2.2)';
    return null;
  }

  private parse(): void {
    this.parsed = true;
    this.form = F_ORIGIN;
    const url = this.url;
    let start = 0;
    if (url.charCodeAt(0) !== SLASH) {
      if (url === '*') {
        this.form = F_ASTERISK;
        this.pathStart = 0;
        this.pathEnd = 1;
        this.normPath = '*';
        if (this.method !== 'OPTIONS') this.error = 'asterisk-form target on a method other than OPTIONS (RFC 9112 §3.2.4)';
        return;
      }
      start = this.parseAbsolute(url);
      if (start === -1) return;
    }
    this.pathStart = start;
    const n = url.length;
    if (start === n || url.charCodeAt(start) === QUESTION) {
      // An absolute-form target with an empty path: "/" (RFC 9112 §3.2.1),
      // or "*" for OPTIONS without a query (§3.2.4).
      this.pathEnd = start;
      this.normPath = this.method === 'OPTIONS' && start === n ? '*' : '/';
    } else if (url.charCodeAt(start) !== SLASH) {
      this.error = FRAGMENT; // the authority ended at a '#'
      return;
    } else {
      const error = scanPath(url, start, this.scan);
      if (error !== null) {
        this.error = error;
        return;
      }
      this.pathEnd = this.scan.end;
      if (this.scan.changes) {
        const path = rebuildPath(url, start, this.scan.end);
        if (path === ABOVE_ROOT) {
          this.error = ABOVE_ROOT;
          return;
        }
        this.normPath = path;
      }
    }
    // The query is not normalised, but a fragment there is refused all the same.
    if (this.pathEnd < n && url.indexOf('#', this.pathEnd) !== -1) this.error = FRAGMENT;
  }

  /** An absolute-form target: sets `authority` and returns where its path starts, or -1 with `error` set. */
  private parseAbsolute(url: string): number {
    const colon = url.indexOf(':');
    const scheme = colon <= 0 ? '' : url.slice(0, colon).toLowerCase();
    if (scheme !== 'http' && scheme !== 'https') {
      this.error = `request target "${url.slice(0, 16)}" is not origin-form or an http(s) absolute-form (RFC 9112 §3.2)`;
      return -1;
    }
    if (!url.startsWith('//', colon + 1)) {
      this.error = 'absolute-form target without an authority (RFC 9110 §4.2.1)';
      return -1;
    }
    const from = colon + 3;
    let end = from;
    for (; end < url.length; end++) {
      const c = url.charCodeAt(end);
      if (c === SLASH || c === QUESTION || c === 0x23) break;
    }
    const authority = url.slice(from, end);
    if (authority.includes('@')) {
      this.error = 'userinfo in the request target (RFC 9110 §4.2.4)';
      return -1;
    }
    if (hostLength(authority) <= 0) {
      this.error = 'empty or invalid host in the request target (RFC 9110 §4.2.1, RFC 3986 §3.2.2)';
      return -1;
    }
    this.form = F_ABSOLUTE;
    this.authority = authority;
    return end;
  }

  /**
   * The normalised path: query excluded, '*' for OPTIONS *. What path,
   * prefix and path-regex rules test and `key path` hashes.
   */
  path(): string {
    if (this.pathCache === null) {
      if (!this.parsed) this.parse();
      if (this.normPath !== null) this.pathCache = this.normPath;
      else if (this.error !== null) {
        // Only a view that was never check()ed gets here: the raw path.
        const q = this.url.indexOf('?');
        this.pathCache = q === -1 ? this.url : this.url.slice(0, q);
      } else if (this.pathStart === 0 && this.pathEnd === this.url.length) this.pathCache = this.url;
      else this.pathCache = this.url.slice(this.pathStart, this.pathEnd);
    }
    return this.pathCache;
  }

  /**
   * The normalised target in origin form: path() and the query exactly as
   * sent. What url-regex rules test and `key path-query` hashes.
   */
  target(): string {
    if (this.targetCache === null) {
      if (!this.parsed) this.parse();
      if (this.error !== null || (this.form === F_ORIGIN && this.normPath === null)) this.targetCache = this.url;
      else this.targetCache = this.path() + this.url.slice(this.pathEnd);
    }
    return this.targetCache;
  }

  /**
   * The target for the upstream request line: the client's, in origin form
   * (an absolute-form target loses its scheme and authority, RFC 9112
   * §3.2.2), or target() when `normalised`.
   */
  forwardTarget(normalised: boolean): string {
    if (!this.parsed) this.parse();
    if (normalised) return this.target();
    if (this.form !== F_ABSOLUTE) return this.url;
    if (this.pathStart === this.pathEnd) return this.normPath + this.url.slice(this.pathEnd);
    return this.url.slice(this.pathStart);
  }

  /** An absolute-form target's authority (host[:port]), which replaces the Host field upstream; else null. */
  targetAuthority(): string | null {
    if (!this.parsed) this.parse();
    return this.authority;
  }

  queryString(): string {
    const q = this.url.indexOf('?');
    return q === -1 ? '' : this.url.slice(q + 1);
  }

  /** First header value with this lower-case name, or undefined. */
  header(lowerName: string): string | undefined {
    return headerValue(this.headers, lowerName);
  }

  /**
   * The host, lower-case, without port or a trailing dot: an absolute-form
   * target's (RFC 9112 §3.2.2), else the Host field's; null when there is
   * none (or it is invalid, which check() refuses).
   */
  host(): string | null {
    if (this.hostCache === undefined) {
      if (!this.parsed) this.parse();
      const raw = this.authority ?? this.header('host');
      if (raw === undefined) this.hostCache = null;
      else {
        const length = hostLength(raw);
        this.hostCache = length === -1 ? null : (length === raw.length ? raw : raw.slice(0, length)).toLowerCase();
      }
    }
    return this.hostCache;
  }

  cookie(name: string): string | undefined {
    const h = this.headers;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i].length !== 6 || h[i].toLowerCase() !== 'cookie') continue;
      for (const part of h[i + 1].split(';')) {
        const eq = part.indexOf('=');
        if (eq === -1) continue;
        if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
      }
    }
    return undefined;
  }

  query(name: string): string | undefined {
    const qs = this.queryString();
    if (qs === '') return undefined;
    for (const part of qs.split('&')) {
      const eq = part.indexOf('=');
      const k = eq === -1 ? part : part.slice(0, eq);
      if (safeDecode(k) === name) return eq === -1 ? '' : safeDecode(part.slice(eq + 1));
    }
    return undefined;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
