// Byte-level HTTP/1.x reading for tests: heads and chunked bodies are parsed
// here, independently of lib/, so a test sees exactly what went over the wire.

export const CRLF2 = Buffer.from('\r\n\r\n');

export interface ParsedHead {
  /** The first line, without CRLF. */
  startLine: string;
  /** Field lines in order, names as sent. */
  headers: Array<[string, string]>;
  /** The head's bytes including the final CRLFCRLF, decoded latin1. */
  raw: string;
}

/** Parses a head from `buf` at `start`; null while CRLFCRLF has not arrived. */
export function parseHeadAt(buf: Buffer, start: number): { head: ParsedHead; end: number } | null {
  const at = buf.indexOf(CRLF2, start);
  if (at === -1) return null;
  const end = at + 4;
  const raw = buf.toString('latin1', start, end);
  const lines = raw.slice(0, -4).split('\r\n');
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`bad field line ${JSON.stringify(line)} in ${JSON.stringify(raw)}`);
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { head: { startLine: lines[0], headers, raw }, end };
}

/** Every value of a field, case-insensitive name. */
export function fieldValues(headers: Array<[string, string]>, name: string): string[] {
  const lower = name.toLowerCase();
  return headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** The single value of a field (values joined with ", " when repeated), or undefined. */
export function fieldValue(headers: Array<[string, string]>, name: string): string | undefined {
  const values = fieldValues(headers, name);
  return values.length === 0 ? undefined : values.join(', ');
}

export interface ChunkedBody {
  end: number; // offset just past the final CRLF
  data: Buffer; // the decoded payload
  trailers: Array<[string, string]>;
}

/**
 * Decodes a chunked body that starts at `start`; null while incomplete.
 * Strict enough for tests: sizes in hex, extensions skipped, CRLFs required.
 */
export function parseChunkedAt(buf: Buffer, start: number): ChunkedBody | null {
  const parts: Buffer[] = [];
  let i = start;
  for (let guard = 0; guard < 1_000_000; guard++) {
    const lineEnd = buf.indexOf('\r\n', i, 'latin1');
    if (lineEnd === -1) return null;
    const sizeText = buf.toString('latin1', i, lineEnd).split(';')[0].trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new Error(`bad chunk size line ${JSON.stringify(buf.toString('latin1', i, lineEnd))}`);
    const size = parseInt(sizeText, 16);
    i = lineEnd + 2;
    if (size === 0) {
      const trailers: Array<[string, string]> = [];
      for (let t = 0; t < 1000; t++) {
        const e = buf.indexOf('\r\n', i, 'latin1');
        if (e === -1) return null;
        if (e === i) return { end: i + 2, data: Buffer.concat(parts), trailers };
        const line = buf.toString('latin1', i, e);
        const colon = line.indexOf(':');
        trailers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
        i = e + 2;
      }
      throw new Error('too many trailer lines');
    }
    if (buf.length < i + size + 2) return null;
    parts.push(buf.subarray(i, i + size));
    if (buf[i + size] !== 13 || buf[i + size + 1] !== 10) throw new Error('missing CRLF after chunk data');
    i += size + 2;
  }
  throw new Error('too many chunks');
}
