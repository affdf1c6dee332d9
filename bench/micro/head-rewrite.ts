// Rewriting heads (lib/http/head-rewrite.ts): scanning the request's fields,
// building the head sent upstream (hop-by-hop out, X-Forwarded-*, Via in),
// and building the response head sent to the client.
import { buildRequestHead, buildResponseHead, scanHeaders, type RequestFacts } from '../../lib/http/head-rewrite.ts';
import { measure } from './harness.ts';

const requestHeaders = [
  'Host',
  'shop.example',
  'User-Agent',
  'wrk',
  'Accept',
  '*/*',
  'Cookie',
  'SRV=abc; lang=en',
  'Connection',
  'keep-alive',
];
const responseHeaders = [
  'Server',
  'nginx',
  'Content-Type',
  'application/octet-stream',
  'Content-Length',
  '100',
  'Connection',
  'keep-alive',
];
const facts: RequestFacts = { contentLength: -1, transferEncoding: null, host: null, hostCount: 0, connectionTokens: null };
const resFacts: RequestFacts = { ...facts };
scanHeaders(requestHeaders, facts);
scanHeaders(responseHeaders, resFacts);

measure([
  { name: 'scan request fields (5)', run: () => scanHeaders(requestHeaders, facts) },
  {
    name: 'build request head',
    run: () =>
      buildRequestHead({
        method: 'GET',
        url: '/static/app.js',
        versionMinor: 1,
        headers: requestHeaders,
        facts,
        clientAddress: '192.0.2.7',
        proto: 'http',
        upgrade: null,
      }),
  },
  {
    name: 'build response head',
    run: () =>
      buildResponseHead(
        { statusCode: 200, statusMessage: 'OK', versionMinor: 1, headers: responseHeaders, connection: null, upgrade: null },
        resFacts,
      ),
  },
]);
