// Cookie affinity: the client carries its pin in a cookie holding an opaque
// id of its server, in one of three modes (HAProxy's `cookie NAME ...`):
// - insert: tcpvs sets NAME=<id> itself and takes NAME out of the requests
//   it forwards, so the application never sees it;
// - rewrite: the application sets NAME; tcpvs replaces the value of that
//   Set-Cookie with <id>. Requests go upstream as they came (the application
//   sees NAME=<id>, so it can only use NAME as a flag, not to carry data);
// - prefix: the application sets NAME=value; the client gets NAME=<id>~value
//   and the application gets value back, the prefix stripped.
// The id is the first 60 bits of HMAC-SHA256(secret, server name), base64url:
// it names no address, and any tcpvs with the same secret and servers agrees.
import { createHmac } from 'node:crypto';
import type { RequestView } from '../route/request-view.ts';
import type { RealServer } from '../sched/scheduler.ts';
import type { Affinity, AffinityOptions } from './affinity.ts';
import type { CookieAffinitySpec, CookieMode } from './spec.ts';

export const COOKIE_ID_LENGTH = 10; // base64url characters, 6 bits each
const PREFIX_SEPARATOR = '~';

/** The secret used when the spec has none: fixed per group name, so that instances agree. */
export function defaultCookieSecret(groupName: string): string {
  return 'tcpvs affinity cookie, group ' + groupName;
}

/** The opaque id of a server in cookies. */
export function cookieServerId(secret: string, serverName: string): string {
  return createHmac('sha256', secret).update(serverName).digest('base64url').slice(0, COOKIE_ID_LENGTH);
}

function isIdText(s: string, start: number, end: number): boolean {
  if (end - start !== COOKIE_ID_LENGTH) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95;
    if (!ok) return false;
  }
  return true;
}

interface ServerCookie {
  server: RealServer;
  id: string;
  setCookie: string; // the Set-Cookie value insert mode sends for this server
}

export class CookieAffinity implements Affinity {
  readonly kind = 'cookie';
  readonly rewritesRequest: boolean;
  readonly rewritesResponse = true;
  readonly mode: CookieMode;
  private readonly cookieName: string;
  private readonly secret: string;
  private readonly attributes: string; // "; Path=/; ..." after NAME=<id> in insert mode
  private byId = new Map<string, ServerCookie>();
  private byName = new Map<string, ServerCookie>();

  constructor(spec: CookieAffinitySpec, servers: readonly RealServer[], options: AffinityOptions) {
    this.mode = spec.mode;
    this.cookieName = spec.name;
    this.rewritesRequest = spec.mode !== 'rewrite';
    this.secret = spec.secret ?? defaultCookieSecret(options.groupName);
    let attributes = '; Path=' + (spec.path ?? '/');
    if (spec.domain !== undefined) attributes += '; Domain=' + spec.domain;
    if (spec.maxAgeSec !== undefined) attributes += '; Max-Age=' + spec.maxAgeSec;
    if (spec.httpOnly === true) attributes += '; HttpOnly';
    if (spec.secure === true) attributes += '; Secure';
    if (spec.sameSite !== undefined) attributes += '; SameSite=' + spec.sameSite;
    this.attributes = attributes;
    this.updateServers(servers);
  }

  updateServers(servers: readonly RealServer[]): void {
    const byId = new Map<string, ServerCookie>();
    const byName = new Map<string, ServerCookie>();
    for (const server of servers) {
      const id = cookieServerId(this.secret, server.name);
      const other = byId.get(id);
      // 60 bits make this all but impossible; if it happens, say so rather than mix two servers up.
      if (other !== undefined && other.server.name !== server.name)
        throw new Error(`affinity cookie ids of ${other.server.name} and ${server.name} collide; set another secret`);
      const entry = { server, id, setCookie: this.cookieName + '=' + id + this.attributes };
      byId.set(id, entry);
      byName.set(server.name, entry);
    }
    this.byId = byId;
    this.byName = byName;
  }

  /** The id cookies carry for this server; for tests and tools. */
  idOf(server: RealServer): string | undefined {
    return this.byName.get(server.name)?.id;
  }

  lookup(req: RequestView): RealServer | null {
    const value = findCookie(req.headers, this.cookieName);
    if (value === undefined) return null;
    let start = 0;
    let end = value.length;
    if (end >= 2 && value.charCodeAt(0) === 34 && value.charCodeAt(end - 1) === 34) {
      start = 1; // a quoted cookie-value (RFC 6265 §4.1.1)
      end--;
    }
    if (this.mode === 'prefix') {
      const tilde = value.indexOf(PREFIX_SEPARATOR, start);
      if (tilde === -1 || tilde >= end) return null;
      end = tilde;
    }
    if (!isIdText(value, start, end)) return null;
    const entry = this.byId.get(start === 0 && end === value.length ? value : value.slice(start, end));
    // Forged, stale (server removed) or down: no pin, the scheduler chooses.
    return entry?.server.up ? entry.server : null;
  }

  pin(_req: RequestView, server: RealServer): RealServer {
    return server; // the client carries the pin
  }

  size(): number {
    return 0;
  }

  rewriteRequestHeaders(headers: string[]): string[] {
    if (this.mode === 'rewrite') return headers;
    let out: string[] | null = null;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      const value = headers[i + 1];
      if (name.length !== 6 || name.toLowerCase() !== 'cookie') {
        out?.push(name, value);
        continue;
      }
      const rewritten = value.indexOf(this.cookieName) === -1 ? value : this.rewriteCookieLine(value);
      if (rewritten === value) {
        out?.push(name, value);
        continue;
      }
      out ??= headers.slice(0, i);
      // A Cookie field left empty is dropped: "Cookie: " would be a malformed pair.
      if (rewritten !== '') out.push(name, rewritten);
    }
    return out ?? headers;
  }

  /** One Cookie field: tcpvs's cookie removed (insert) or unprefixed (prefix); the same string when unchanged. */
  private rewriteCookieLine(line: string): string {
    const name = this.cookieName;
    let out = '';
    let changed = false;
    let at = 0;
    while (at <= line.length) {
      let semi = line.indexOf(';', at);
      if (semi === -1) semi = line.length;
      let start = at;
      let end = semi;
      at = semi + 1;
      while (start < end && isSpace(line.charCodeAt(start))) start++;
      while (end > start && isSpace(line.charCodeAt(end - 1))) end--;
      // An empty element (";;", a trailing ";") is dropped when the line is rebuilt anyway.
      if (start === end) continue;
      let pair = line.slice(start, end);
      if (pair.startsWith(name)) {
        let q = name.length;
        while (q < pair.length && isSpace(pair.charCodeAt(q))) q++;
        if (q < pair.length && pair.charCodeAt(q) === 61 /* = */) {
          if (this.mode === 'insert') {
            changed = true; // tcpvs's own cookie: the application never sees it
            continue;
          }
          const stripped = stripPrefix(pair, q + 1);
          if (stripped !== pair) {
            changed = true;
            pair = stripped;
          }
        }
      }
      out = out === '' ? pair : out + '; ' + pair;
    }
    return changed ? out : line;
  }

  rewriteResponseHeaders(headers: string[], server: RealServer, pinned: RealServer | null): string[] {
    const entry = this.byName.get(server.name);
    let out: string[] | null = null;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      if (name.length !== 10 || name.toLowerCase() !== 'set-cookie') {
        out?.push(name, headers[i + 1]);
        continue;
      }
      const value = headers[i + 1];
      const rewritten = this.rewriteSetCookie(value, entry);
      if (rewritten === value) {
        out?.push(name, value);
        continue;
      }
      out ??= headers.slice(0, i);
      if (rewritten !== '') out.push(name, rewritten);
    }
    // insert: only when the request did not already carry this server's id,
    // so a session's responses do not all repeat the same Set-Cookie.
    if (this.mode === 'insert' && entry !== undefined && pinned !== entry.server) {
      out ??= headers.slice();
      out.push('Set-Cookie', entry.setCookie);
    }
    return out ?? headers;
  }

  /**
   * One Set-Cookie value rewritten; the same string when it is not our
   * cookie, '' when it is to be dropped.
   */
  private rewriteSetCookie(value: string, entry: ServerCookie | undefined): string {
    const semi = value.indexOf(';');
    const pairEnd = semi === -1 ? value.length : semi;
    const eq = value.indexOf('=');
    if (eq === -1 || eq > pairEnd) return value;
    if (value.slice(0, eq).trim() !== this.cookieName) return value;
    // insert: the cookie is tcpvs's; one the application sets would fight it.
    if (this.mode === 'insert') return '';
    if (entry === undefined) return value; // a server not in the group: leave it be
    const attributes = semi === -1 ? '' : value.slice(semi);
    if (this.mode === 'rewrite') return this.cookieName + '=' + entry.id + attributes;
    const appValue = value.slice(eq + 1, pairEnd).trim();
    // prefix: a quoted value keeps its quotes outermost.
    const prefixed =
      appValue.length >= 2 && appValue.charCodeAt(0) === 34 && appValue.charCodeAt(appValue.length - 1) === 34
        ? '"' + entry.id + PREFIX_SEPARATOR + appValue.slice(1)
        : entry.id + PREFIX_SEPARATOR + appValue;
    return this.cookieName + '=' + prefixed + attributes;
  }
}

/**
 * The value of the first cookie called `name` in the request's Cookie fields,
 * surrounding whitespace trimmed; as RequestView.cookie() but without
 * splitting every field into an array per request.
 */
export function findCookie(headers: string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    const field = headers[i];
    if (field.length !== 6 || field.toLowerCase() !== 'cookie') continue;
    const line = headers[i + 1];
    let at = 0;
    while (at < line.length) {
      let semi = line.indexOf(';', at);
      if (semi === -1) semi = line.length;
      let p = at;
      while (p < semi && isSpace(line.charCodeAt(p))) p++;
      if (line.startsWith(name, p)) {
        let q = p + name.length;
        while (q < semi && isSpace(line.charCodeAt(q))) q++;
        if (q < semi && line.charCodeAt(q) === 61 /* = */) {
          let start = q + 1;
          let end = semi;
          while (start < end && isSpace(line.charCodeAt(start))) start++;
          while (end > start && isSpace(line.charCodeAt(end - 1))) end--;
          return line.slice(start, end);
        }
      }
      at = semi + 1;
    }
  }
  return undefined;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** NAME=<id>~value -> NAME=value (also inside quotes); the pair unchanged when it carries no id prefix. */
function stripPrefix(pair: string, valueStart: number): string {
  let start = valueStart;
  while (start < pair.length && (pair.charCodeAt(start) === 32 || pair.charCodeAt(start) === 9)) start++;
  const quoted = pair.charCodeAt(start) === 34;
  const idStart = quoted ? start + 1 : start;
  const tilde = idStart + COOKIE_ID_LENGTH;
  if (pair.charCodeAt(tilde) !== 126 /* ~ */ || !isIdText(pair, idStart, tilde)) return pair;
  // Name as the client wrote it, then '=' and the rest after the prefix.
  return pair.slice(0, valueStart).trimEnd() + (quoted ? '"' : '') + pair.slice(tilde + 1);
}
