// What the router sees of one request. Built by the data path from llhttp's
// output; everything beyond method/url/headers is derived lazily so a rule set
// that only looks at the path never splits the Host or Cookie header.
import { headerValue } from '../http/head-rewrite.ts';

export class RequestView {
  method = '';
  url = '';
  // Flat [name, value, name, value, ...] exactly as llhttp delivered them.
  headers: string[] = [];
  clientAddress = '';

  private pathCache: string | null = null;
  private hostCache: string | null | undefined = undefined;

  reset(method: string, url: string, headers: string[], clientAddress: string): void {
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.clientAddress = clientAddress;
    this.pathCache = null;
    this.hostCache = undefined;
  }

  path(): string {
    if (this.pathCache === null) {
      const q = this.url.indexOf('?');
      this.pathCache = q === -1 ? this.url : this.url.slice(0, q);
    }
    return this.pathCache;
  }

  queryString(): string {
    const q = this.url.indexOf('?');
    return q === -1 ? '' : this.url.slice(q + 1);
  }

  /** First header value with this lower-case name, or undefined. */
  header(lowerName: string): string | undefined {
    return headerValue(this.headers, lowerName);
  }

  /** Host without port, lower-case; from the Host header or an absolute-form target. */
  host(): string | null {
    if (this.hostCache === undefined) {
      let raw = this.header('host');
      if (raw === undefined && /^https?:\/\//i.test(this.url)) {
        const start = this.url.indexOf('//') + 2;
        const end = this.url.indexOf('/', start);
        raw = this.url.slice(start, end === -1 ? undefined : end);
      }
      this.hostCache = raw === undefined ? null : stripPort(raw.trim().toLowerCase());
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

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
