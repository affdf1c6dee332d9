// The pure half of bench/compare-proxies.ts: the corpus as bytes, a small
// HTTP/1.x response reader, the per-profile configs of the three proxies,
// and the comparison of their outcomes. No sockets, no processes: the test
// in test/bench/compare-corpus.test.ts runs all of it.
import { allRequestVectors, type CorpusRequest, type Profile } from '../../test/corpus/requests.ts';
import { allResponseCases, type CorpusResponse } from '../../test/corpus/responses.ts';
import { haproxyConfig, nginxConfig, tcpvsConfig, type ProxyConfigInput } from './proxy-configs.ts';

export const PROXIES = ['tcpvs', 'nginx', 'haproxy'] as const;
export type ProxyName = (typeof PROXIES)[number];
export const PROFILES: readonly Profile[] = ['default', 'limits', 'forward'];

export interface CompareCorpus {
  requests: CorpusRequest[];
  responses: CorpusResponse[];
}

/** The corpus, optionally only the cases whose id contains `filter` (case-insensitive). */
export function loadCompareCorpus(filter = ''): CompareCorpus {
  const keep = (id: string) => filter === '' || id.toLowerCase().includes(filter.toLowerCase());
  const requests = allRequestVectors().filter((v) => keep(v.id));
  const responses = allResponseCases().filter((c) => keep(c.id));
  const ids = new Set<string>();
  for (const { id } of [...requests, ...responses]) {
    if (ids.has(id)) throw new Error(`duplicate corpus id: ${id}`);
    ids.add(id);
  }
  return { requests, responses };
}

/** Bytes on the wire: every corpus string holds one byte per char. */
export const bytesOf = (s: string): Buffer => Buffer.from(s, 'latin1');

// ---- configs ----------------------------------------------------------------

/**
 * Each proxy with the settings a profile needs, spelled its own way:
 * - limits: tcpvs `limit uri 1k` + `limit headers 4k`; nginx
 *   `large_client_header_buffers 4 1k`; HAProxy `tune.bufsize 5120` (4 KiB of
 *   head after the 1 KiB rewrite reserve) and, having no URI limit of its
 *   own, a 414 for URIs over 1024 bytes.
 * - forward: tcpvs `normalize-path forward`; nginx `proxy_pass` with a URI
 *   part (the normalised path goes up); HAProxy `normalize-uri` (experimental
 *   in 2.6).
 * The base configs are bench/lib/proxy-configs.ts's, so these are the
 * proxies the benchmark measures.
 */
export function configFor(proxy: ProxyName, profile: Profile, input: ProxyConfigInput): string {
  switch (proxy) {
    case 'tcpvs': {
      const base = tcpvsConfig(input);
      const extra =
        profile === 'limits' ? ['  limit uri 1k', '  limit headers 4k'] : profile === 'forward' ? ['  normalize-path forward'] : [];
      const listen = `  listen 127.0.0.1:${input.listenPort}\n`;
      return insertAfter(base, listen, extra.map((l) => l + '\n').join(''));
    }
    case 'nginx': {
      const base = nginxConfig(input);
      if (profile === 'limits')
        return insertAfter(base, `    listen 127.0.0.1:${input.listenPort};\n`, '    large_client_header_buffers 4 1k;\n');
      if (profile === 'forward') return replaceOnce(base, '      proxy_pass http://backend;\n', '      proxy_pass http://backend/;\n');
      return base;
    }
    case 'haproxy': {
      const base = haproxyConfig(input);
      if (profile === 'limits') {
        const withBuf = insertAfter(base, '  nbthread 1\n', '  tune.bufsize 5120\n');
        return insertBefore(
          withBuf,
          '  default_backend backend\n',
          '  http-request return status 414 content-type text/plain string "414 URI Too Long" if { url_len gt 1024 }\n',
        );
      }
      if (profile === 'forward') {
        const withExp = insertAfter(base, '  nbthread 1\n', '  expose-experimental-directives\n');
        const rules = ['path-merge-slashes', 'path-strip-dot', 'path-strip-dotdot', 'percent-decode-unreserved', 'percent-to-uppercase'];
        return insertBefore(withExp, '  default_backend backend\n', rules.map((r) => `  http-request normalize-uri ${r}\n`).join(''));
      }
      return base;
    }
  }
}

function insertAfter(text: string, anchor: string, insert: string): string {
  return replaceOnce(text, anchor, anchor + insert);
}
function insertBefore(text: string, anchor: string, insert: string): string {
  return replaceOnce(text, anchor, insert + anchor);
}
/** Fails loudly when the base config no longer has the line a profile hooks onto. */
function replaceOnce(text: string, anchor: string, replacement: string): string {
  const at = text.indexOf(anchor);
  if (at === -1 || text.indexOf(anchor, at + 1) !== -1) throw new Error(`config anchor not found exactly once: ${JSON.stringify(anchor)}`);
  return text.slice(0, at) + replacement + text.slice(at + anchor.length);
}

// ---- reading responses -------------------------------------------------------

export interface ReadResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
  /** The whole message arrived (by Content-Length, chunked, or no body). */
  complete: boolean;
  /** Offset just past it (when complete). */
  end: number;
}

/**
 * The responses in `buf`, in order: complete ones, then at most one
 * incomplete one (head read, body short). `closed`: the peer has closed, so a
 * body without length ends here. `headFirst`: the first response answers HEAD.
 * Lenient on purpose: it reads what a proxy sent, it judges nothing.
 */
export function readResponses(buf: Buffer, closed: boolean, headFirst = false): ReadResponse[] {
  const out: ReadResponse[] = [];
  let at = 0;
  for (let guard = 0; guard < 64 && at < buf.length; guard++) {
    const headEnd = buf.indexOf('\r\n\r\n', at);
    if (headEnd === -1) break;
    const lines = buf.subarray(at, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/\d\.\d (\d{3})(?: |$)/.exec(lines[0]);
    if (m === null) break;
    const status = Number(m[1]);
    const headers: Array<[string, string]> = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
    }
    const get = (name: string) => headers.find(([n]) => n === name)?.[1];
    const bodyStart = headEnd + 4;
    const noBody = (headFirst && out.length === 0) || (status >= 100 && status < 200) || status === 204 || status === 304;
    if (noBody) {
      out.push({ status, headers, body: Buffer.alloc(0), complete: true, end: bodyStart });
      at = bodyStart;
      continue;
    }
    const te = get('transfer-encoding');
    const cl = get('content-length');
    if (te !== undefined && /chunked\s*$/i.test(te)) {
      const chunked = readChunked(buf, bodyStart);
      if (chunked === null) {
        out.push({ status, headers, body: buf.subarray(bodyStart), complete: false, end: buf.length });
        break;
      }
      out.push({ status, headers, body: chunked.body, complete: true, end: chunked.end });
      at = chunked.end;
    } else if (cl !== undefined && /^\d+$/.test(cl)) {
      const end = bodyStart + Number(cl);
      if (buf.length < end) {
        out.push({ status, headers, body: buf.subarray(bodyStart), complete: false, end: buf.length });
        break;
      }
      out.push({ status, headers, body: buf.subarray(bodyStart, end), complete: true, end });
      at = end;
    } else {
      // Delimited by close.
      out.push({ status, headers, body: buf.subarray(bodyStart), complete: closed, end: buf.length });
      break;
    }
  }
  return out;
}

/** A chunked body from `start`: the data and the offset past the trailers, or null while incomplete or unreadable. */
export function readChunked(buf: Buffer, start: number): { body: Buffer; end: number } | null {
  const parts: Buffer[] = [];
  let at = start;
  for (let guard = 0; guard < 100_000; guard++) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd === -1) return null;
    const size = /^[0-9a-fA-F]+/.exec(buf.subarray(at, lineEnd).toString('latin1'));
    if (size === null || size[0].length > 12) return null;
    const n = parseInt(size[0], 16);
    if (n === 0) {
      // Trailers, then an empty line.
      let t = lineEnd + 2;
      for (let g = 0; g < 1000; g++) {
        const e = buf.indexOf('\r\n', t);
        if (e === -1) return null;
        if (e === t) return { body: Buffer.concat(parts), end: e + 2 };
        t = e + 2;
      }
      return null;
    }
    const dataEnd = lineEnd + 2 + n;
    if (buf.length < dataEnd + 2) return null;
    parts.push(buf.subarray(lineEnd + 2, dataEnd));
    at = dataEnd + 2;
  }
  return null;
}

// ---- outcomes and their comparison ----------------------------------------------

export type Status = number | 'no status line' | 'closed' | 'timeout' | 'reset' | 'error';

/** What one proxy did with one request vector. */
export interface RequestOutcome {
  /**
   * The first response's status, or 'no status line' (bytes came, but no
   * HTTP/1.x status line), 'closed' (closed without a byte), 'timeout'
   * (nothing in time), 'reset', 'error'.
   */
  status: Status;
  /** Responses seen on the connection. */
  responses: number;
  /** Whether any byte of the vector reached the backend. */
  forwarded: boolean;
  /** Requests the backend read out of those bytes (and answered). */
  backendRequests: number;
  /** What the backend received (latin1, cut at 4 KiB), '' for nothing. */
  backendBytes: string;
  /** The proxy still answered a normal request afterwards. */
  sentinelOk: boolean;
  ms: number;
}

/** What one proxy did with one malicious-server case. */
export interface ResponseOutcome {
  status: Status;
  /** The first response reached the client complete. */
  complete: boolean;
  /** The case's marker ("hello", "EVIL": the server's body, or its unasked bytes) reached the client. */
  leaked: boolean;
  marker: string | null;
  /** The client's first byte came only after the server closed (1 s after its response): the proxy read until close. */
  atServerClose: boolean;
  /** after-complete cases: what the client got for `GET /next` on the same connection. */
  next: string | null;
  /** The first bytes the client received (latin1, cut at 300). */
  clientBytes: string;
  ms: number;
}

/** The part of an outcome the comparison looks at. */
export function requestKey(o: RequestOutcome): string {
  return `${o.status}${o.forwarded ? ' fwd' : ''}`;
}

export function responseKey(o: ResponseOutcome): string {
  let key = String(o.status);
  if (typeof o.status === 'number' && !o.complete) key += ' cut';
  if (o.atServerClose) key += ' at close';
  if (o.leaked) key += ` +${o.marker}`;
  if (o.next !== null) key += ` / next: ${o.next}`;
  return key;
}

export type Agreement =
  | 'all agree'
  | 'tcpvs differs from both' // nginx and HAProxy may or may not agree with each other
  | 'tcpvs differs from nginx'
  | 'tcpvs differs from haproxy'
  | 'incomplete'; // a proxy was not run

/** How tcpvs's outcome stands against the other two (by key). */
export function agreement(keys: Partial<Record<ProxyName, string>>): Agreement {
  const { tcpvs, nginx, haproxy } = keys;
  if (tcpvs === undefined || nginx === undefined || haproxy === undefined) return 'incomplete';
  if (tcpvs === nginx && tcpvs === haproxy) return 'all agree';
  if (tcpvs !== nginx && tcpvs !== haproxy) return 'tcpvs differs from both';
  return tcpvs !== nginx ? 'tcpvs differs from nginx' : 'tcpvs differs from haproxy';
}

/** For request vectors, the difference that matters most: whether bytes went upstream. */
export function forwardingDiffers(outcomes: Partial<Record<ProxyName, RequestOutcome>>): boolean {
  const seen = new Set(PROXIES.flatMap((p) => (outcomes[p] === undefined ? [] : [outcomes[p]!.forwarded])));
  return seen.size > 1;
}

/** Whether tcpvs did what the corpus says it does (the same status, forwarded or not). */
export function tcpvsAsExpected(v: CorpusRequest, o: RequestOutcome): boolean {
  return typeof o.status === 'number' && v.tcpvs.statuses.includes(o.status) && o.forwarded === v.tcpvs.forwarded;
}

export function tcpvsResponseAsExpected(c: CorpusResponse, o: ResponseOutcome): boolean {
  return o.status === c.tcpvs.status && !o.leaked;
}

// ---- the table -------------------------------------------------------------------

export interface TableRow {
  id: string;
  cells: Partial<Record<ProxyName, string>>;
  forwarded?: Partial<Record<ProxyName, boolean>>;
  agreement: Agreement;
}

const MARK: Record<Agreement, string> = {
  'all agree': '',
  'tcpvs differs from both': '≠both',
  'tcpvs differs from nginx': '≠nginx',
  'tcpvs differs from haproxy': '≠haproxy',
  incomplete: '?',
};

/** A plain-text table: vector, one column per proxy, forwarded? (t/n/h), and how tcpvs stands. */
export function formatTable(rows: TableRow[], withForwarded: boolean): string {
  const header = ['vector', ...PROXIES, ...(withForwarded ? ['forwarded? t/n/h'] : []), 'tcpvs'];
  const body = rows.map((r) => [
    r.id,
    ...PROXIES.map((p) => r.cells[p] ?? '-'),
    ...(withForwarded ? [PROXIES.map((p) => (r.forwarded?.[p] === undefined ? '?' : r.forwarded[p] ? 'y' : '-')).join('/')] : []),
    MARK[r.agreement],
  ]);
  const widths = header.map((h, i) => Math.min(i === 0 ? 64 : 40, Math.max(h.length, ...body.map((row) => row[i].length))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (c.length > widths[i] ? c.slice(0, widths[i] - 1) + '…' : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
