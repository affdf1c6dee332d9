// Short responses tcpvs answers itself (errors and 404), prebuilt once per
// status and connection disposition.
import { STATUS_CODES } from 'node:http';

const cache = new Map<number, Buffer>();

export function localResponse(status: number, close: boolean, headOnly: boolean): Buffer {
  const key = status * 4 + (close ? 2 : 0) + (headOnly ? 1 : 0);
  let res = cache.get(key);
  if (res === undefined) {
    const text = STATUS_CODES[status] ?? 'Error';
    const body = `${status} ${text}\n`;
    res = Buffer.from(
      `HTTP/1.1 ${status} ${text}\r\n` +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${body.length}\r\n` +
        'Cache-Control: no-store\r\n' +
        (close ? 'Connection: close\r\n' : '') +
        '\r\n' +
        (headOnly ? '' : body),
      'latin1',
    );
    cache.set(key, res);
  }
  return res;
}
