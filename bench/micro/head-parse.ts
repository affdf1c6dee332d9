// Parsing a request head and a response head with llhttp (lib/http/llhttp.ts),
// as the data path does once per request and per response.
import { HeadParser } from '../../lib/http/llhttp.ts';
import { measure } from './harness.ts';

const request = Buffer.from(
  'GET /static/app.js?v=3 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: wrk\r\nAccept: */*\r\nCookie: SRV=abc; lang=en\r\n\r\n',
);
const response = Buffer.from(
  'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\nConnection: keep-alive\r\n\r\n',
);
const requests = new HeadParser('request', 16384);
const responses = new HeadParser('response', 16384);

measure([
  { name: 'llhttp: request head (5 fields)', run: () => requests.feed(request) },
  { name: 'llhttp: response head (4 fields)', run: () => responses.feed(response) },
  { name: 'llhttp: reset alone (done before every head)', run: () => requests.reset() },
]);
