// Rewrites message heads on their way through: hop-by-hop fields dropped
// (RFC 9110 §7.6.1), X-Forwarded-* and Via added, Transfer-Encoding sent
// on in the one form tcpvs validated (transfer-encoding.ts). Only the head is
// rebuilt; bodies never pass through here.

// Header classes, found by length first so most names are never lower-cased.
const H_OTHER = 0;
const H_CONNECTION = 1;
const H_KEEP_ALIVE = 2;
const H_PROXY_CONNECTION = 3;
const H_TE = 4;
const H_UPGRADE = 5;
const H_XFF = 6;
const H_XFPROTO = 7;
const H_XFHOST = 8;
const H_VIA = 9;
const H_HOST = 10;
const H_CONTENT_LENGTH = 11;
const H_TRANSFER_ENCODING = 12;

export function classify(name: string): number {
  switch (name.length) {
    case 2:
      return name.toLowerCase() === 'te' ? H_TE : H_OTHER;
    case 3:
      return name.toLowerCase() === 'via' ? H_VIA : H_OTHER;
    case 4:
      return name.toLowerCase() === 'host' ? H_HOST : H_OTHER;
    case 7:
      return name.toLowerCase() === 'upgrade' ? H_UPGRADE : H_OTHER;
    case 10: {
      const l = name.toLowerCase();
      return l === 'connection' ? H_CONNECTION : l === 'keep-alive' ? H_KEEP_ALIVE : H_OTHER;
    }
    case 14:
      return name.toLowerCase() === 'content-length' ? H_CONTENT_LENGTH : H_OTHER;
    case 15:
      return name.toLowerCase() === 'x-forwarded-for' ? H_XFF : H_OTHER;
    case 16: {
      const l = name.toLowerCase();
      return l === 'proxy-connection' ? H_PROXY_CONNECTION : l === 'x-forwarded-host' ? H_XFHOST : H_OTHER;
    }
    case 17: {
      const l = name.toLowerCase();
      return l === 'x-forwarded-proto' ? H_XFPROTO : l === 'transfer-encoding' ? H_TRANSFER_ENCODING : H_OTHER;
    }
    default:
      return H_OTHER;
  }
}

/** What the data path needs to know about a request head beyond llhttp's fields. */
export interface RequestFacts {
  contentLength: number; // -1 when absent
  // Joined values, null when absent. The heads built below send this one
  // value in place of all Transfer-Encoding fields (none when null): set it
  // to the verdict's `normalized` once judged.
  transferEncoding: string | null;
  host: string | null;
  hostCount: number; // Host fields seen
  connectionTokens: string | null; // joined Connection values, lower-case
}

/** Facts of no head yet, to be filled by scanHeaders (one object per connection, reused). */
export function newFacts(): RequestFacts {
  return { contentLength: -1, transferEncoding: null, host: null, hostCount: 0, connectionTokens: null };
}

/** Scans a flat header list once for the fields that decide framing and rewriting. */
export function scanHeaders(headers: string[], out: RequestFacts): void {
  out.contentLength = -1;
  out.transferEncoding = null;
  out.host = null;
  out.hostCount = 0;
  out.connectionTokens = null;
  for (let i = 0; i < headers.length; i += 2) {
    switch (classify(headers[i])) {
      case H_CONTENT_LENGTH:
        out.contentLength = Number(headers[i + 1]); // llhttp allowed digits only, once
        break;
      case H_TRANSFER_ENCODING:
        out.transferEncoding = out.transferEncoding === null ? headers[i + 1] : out.transferEncoding + ',' + headers[i + 1];
        break;
      case H_HOST:
        if (out.host === null) out.host = headers[i + 1];
        out.hostCount++;
        break;
      case H_CONNECTION: {
        const v = headers[i + 1].toLowerCase();
        out.connectionTokens = out.connectionTokens === null ? v : out.connectionTokens + ',' + v;
        break;
      }
    }
  }
}

/** Connection tokens that name other fields to drop; framing fields are never dropped. */
function connectionNominated(tokens: string | null): Set<string> | null {
  if (tokens === null) return null;
  let set: Set<string> | null = null;
  for (const raw of tokens.split(',')) {
    const t = raw.trim();
    if (t === '' || t === 'close' || t === 'keep-alive' || t === 'upgrade') continue;
    if (t === 'content-length' || t === 'transfer-encoding' || t === 'host') continue;
    (set ??= new Set()).add(t);
  }
  return set;
}

export interface RequestRewrite {
  method: string;
  url: string;
  versionMinor: number; // 0 or 1: the upstream request keeps the client's HTTP/1.x
  headers: string[];
  facts: RequestFacts;
  clientAddress: string;
  proto: string; // 'http'
  upgrade: string | null; // the Upgrade value when tunnelling, else null
  // An absolute-form target's authority: it goes up as the only Host field,
  // first, whatever Host the client sent (RFC 9112 §3.2.2). Absent or null:
  // the client's Host passes unchanged.
  authority?: string | null;
}

/** The request head as sent upstream. */
export function buildRequestHead(r: RequestRewrite): string {
  const nominated = connectionNominated(r.facts.connectionTokens);
  let head = r.method + ' ' + r.url + (r.versionMinor === 0 ? ' HTTP/1.0\r\n' : ' HTTP/1.1\r\n');
  const authority = r.authority ?? null;
  if (authority !== null) head += 'Host: ' + authority + '\r\n';
  let xff: string | null = null;
  let via: string | null = null;
  let te = r.facts.transferEncoding;
  const h = r.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    const kind = classify(name);
    switch (kind) {
      case H_TRANSFER_ENCODING:
        // The judged value, once, where the first field was: the server reads the framing tcpvs read.
        if (te !== null) head += 'Transfer-Encoding: ' + te + '\r\n';
        te = null;
        continue;
      case H_OTHER:
      case H_HOST:
      case H_CONTENT_LENGTH:
        if (kind === H_HOST && authority !== null) continue; // sent first, above
        if (nominated?.has(name.toLowerCase())) continue;
        head += name + ': ' + h[i + 1] + '\r\n';
        continue;
      case H_XFF:
        xff = xff === null ? h[i + 1] : xff + ', ' + h[i + 1];
        continue;
      case H_VIA:
        via = via === null ? h[i + 1] : via + ', ' + h[i + 1];
        continue;
      default:
        continue; // hop-by-hop, or X-Forwarded-Proto/Host which we set ourselves
    }
  }
  head += 'X-Forwarded-For: ' + (xff === null ? r.clientAddress : xff + ', ' + r.clientAddress) + '\r\n';
  head += 'X-Forwarded-Proto: ' + r.proto + '\r\n';
  const host = authority ?? r.facts.host;
  if (host !== null) head += 'X-Forwarded-Host: ' + host + '\r\n';
  const hop = r.versionMinor === 0 ? '1.0 tcpvs' : '1.1 tcpvs';
  head += 'Via: ' + (via === null ? hop : via + ', ' + hop) + '\r\n';
  if (r.upgrade !== null) head += 'Connection: upgrade\r\nUpgrade: ' + r.upgrade + '\r\n';
  // An HTTP/1.0 upstream request asks to keep the connection for the pool.
  else if (r.versionMinor === 0) head += 'Connection: keep-alive\r\n';
  return head + '\r\n';
}

export interface ResponseRewrite {
  statusCode: number;
  statusMessage: string;
  versionMinor: number; // the upstream's, for Via
  headers: string[];
  connection: 'close' | 'keep-alive' | 'upgrade' | null; // what we tell the client; null: HTTP/1.1 default
  upgrade: string | null;
}

/** The response head as sent to the client. `facts` comes from scanHeaders over the same headers. */
export function buildResponseHead(r: ResponseRewrite, facts: RequestFacts): string {
  const nominated = connectionNominated(facts.connectionTokens);
  const h = r.headers;
  let head = 'HTTP/1.1 ' + r.statusCode + ' ' + r.statusMessage + '\r\n';
  let via: string | null = null;
  // No Transfer-Encoding on a 1xx or 204 (RFC 9110 §6.4.1, RFC 9112 §6.1).
  let te = r.statusCode < 200 || r.statusCode === 204 ? null : facts.transferEncoding;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    switch (classify(name)) {
      case H_TRANSFER_ENCODING:
        if (te !== null) head += 'Transfer-Encoding: ' + te + '\r\n';
        te = null;
        continue;
      case H_VIA:
        via = via === null ? h[i + 1] : via + ', ' + h[i + 1];
        continue;
      case H_CONNECTION:
      case H_KEEP_ALIVE:
      case H_PROXY_CONNECTION:
      case H_TE:
      case H_UPGRADE:
        continue; // hop-by-hop
    }
    if (nominated?.has(name.toLowerCase())) continue;
    head += name + ': ' + h[i + 1] + '\r\n';
  }
  const hop = r.versionMinor === 0 ? '1.0 tcpvs' : '1.1 tcpvs';
  head += 'Via: ' + (via === null ? hop : via + ', ' + hop) + '\r\n';
  if (r.connection === 'upgrade') head += 'Connection: upgrade\r\nUpgrade: ' + r.upgrade + '\r\n';
  else if (r.connection !== null) head += 'Connection: ' + r.connection + '\r\n';
  return head + '\r\n';
}

/** The value of the first header with this lower-case name. */
export function headerValue(headers: string[], lowerName: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i];
    if (n.length === lowerName.length && n.toLowerCase() === lowerName) return headers[i + 1];
  }
  return undefined;
}
