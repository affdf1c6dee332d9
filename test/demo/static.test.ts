import t from 'tap';
import net from 'node:net';
import type { Test } from 'tap';
import { Client } from 'undici';
import { request as httpRequest, Agent } from 'node:http';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, inflateSync } from 'node:zlib';
import { startStaticServer } from '../../lib/demo/static-server.ts';
import { startDemoBackends, SITE_DIR, IMAGES_DIR } from '../../lib/demo/backends.ts';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

async function fetchRaw(client: Client, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Reply> {
  // undici sends the path as given: no URL normalisation hides a '..'.
  const r = await client.request({ path, method, headers, headersTimeout: 5000, bodyTimeout: 5000 });
  return { status: r.statusCode, headers: r.headers, body: Buffer.from(await r.body.arrayBuffer()) };
}

// A folder to serve, with a secret beside it that must stay out of reach.
const scratch = mkdtempSync(join(tmpdir(), 'tcpvs-static-test-'));
const root = join(scratch, 'pub');
mkdirSync(join(root, 'sub'), { recursive: true });
mkdirSync(join(root, 'empty-dir'));
writeFileSync(join(scratch, 'secret.txt'), 'TOP-SECRET\n');
writeFileSync(join(root, 'index.html'), '<p>root index</p>\n');
writeFileSync(join(root, 'sub', 'index.html'), '<p>sub index</p>\n');
writeFileSync(join(root, 'data.json'), '{"ok":true}\n');
writeFileSync(join(root, 'blob.unknownext'), Buffer.from([0, 1, 2, 3, 255]));
writeFileSync(join(root, 'empty.txt'), '');
symlinkSync(join(scratch, 'secret.txt'), join(root, 'escape-link'));
symlinkSync(join(root, 'data.json'), join(root, 'inside-link.json'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

const server = await startStaticServer({ root, host: '127.0.0.1', port: 0, name: 'static-test' });
const client = new Client(`http://127.0.0.1:${server.port}`);
t.teardown(async () => {
  await client.close();
  await server.close();
});

t.test('serves files with type, length, bytes and X-Backend', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['/index.html', 'index.html', 'text/html; charset=utf-8'],
    ['/data.json', 'data.json', 'application/json'],
    ['/blob.unknownext', 'blob.unknownext', 'application/octet-stream'],
    ['/sub/index.html', 'sub/index.html', 'text/html; charset=utf-8'],
    ['/inside-link.json', 'data.json', 'application/json'],
  ];
  for (const [path, file, type] of cases) {
    const r = await fetchRaw(client, path);
    const expected = readFileSync(join(root, file));
    t.equal(r.status, 200, path);
    t.equal(r.headers['content-type'], type, `${path} type`);
    t.equal(r.headers['content-length'], String(expected.length), `${path} length`);
    t.equal(r.headers['x-backend'], 'static-test', `${path} names its backend`);
    t.ok(r.body.equals(expected), `${path} bytes`);
  }
  const empty = await fetchRaw(client, '/empty.txt');
  t.equal(empty.status, 200);
  t.equal(empty.headers['content-length'], '0');
  t.equal(empty.body.length, 0);
});

t.test('directories: index.html, redirect to the slash form, 404 without index', async (t) => {
  const top = await fetchRaw(client, '/');
  t.equal(top.status, 200);
  t.equal(top.body.toString(), '<p>root index</p>\n');
  const sub = await fetchRaw(client, '/sub?x=1');
  t.equal(sub.status, 301);
  t.equal(sub.headers.location, '/sub/?x=1');
  const subSlash = await fetchRaw(client, '/sub/');
  t.equal(subSlash.body.toString(), '<p>sub index</p>\n');
  t.equal((await fetchRaw(client, '/empty-dir/')).status, 404);
  const doubled = await fetchRaw(client, '//sub');
  t.equal(doubled.status, 301);
  t.equal(doubled.headers.location, '/sub/', 'never a scheme-relative //host redirect');
  const absolute = await fetchRaw(client, 'http://example.com/sub/?q');
  t.equal(absolute.body.toString(), '<p>sub index</p>\n', 'absolute-form target');
});

t.test('HEAD gives the GET headers and no body', async (t) => {
  const get = await fetchRaw(client, '/data.json');
  const head = await fetchRaw(client, '/data.json', 'HEAD');
  t.equal(head.status, 200);
  t.equal(head.body.length, 0);
  for (const h of ['content-type', 'content-length', 'etag', 'last-modified']) {
    t.equal(head.headers[h], get.headers[h], h);
  }
});

t.test('conditional GET: 304 on a matching validator, 200 otherwise', async (t) => {
  const first = await fetchRaw(client, '/data.json');
  const etag = String(first.headers.etag);
  const lastModified = String(first.headers['last-modified']);
  t.match(etag, /^W\/".+"$/);
  t.equal(lastModified, statSync(join(root, 'data.json')).mtime.toUTCString());

  const byTag = await fetchRaw(client, '/data.json', 'GET', { 'if-none-match': etag });
  t.equal(byTag.status, 304);
  t.equal(byTag.body.length, 0);
  t.equal(byTag.headers.etag, etag);
  t.equal((await fetchRaw(client, '/data.json', 'GET', { 'if-none-match': `"nope", ${etag}` })).status, 304, 'tag in a list');
  t.equal((await fetchRaw(client, '/data.json', 'GET', { 'if-none-match': '*' })).status, 304);
  t.equal((await fetchRaw(client, '/data.json', 'HEAD', { 'if-none-match': etag })).status, 304);

  t.equal((await fetchRaw(client, '/data.json', 'GET', { 'if-modified-since': lastModified })).status, 304);
  const later = new Date(Date.parse(lastModified) + 60_000).toUTCString();
  t.equal((await fetchRaw(client, '/data.json', 'GET', { 'if-modified-since': later })).status, 304);

  const stale = await fetchRaw(client, '/data.json', 'GET', { 'if-none-match': '"something-else"' });
  t.equal(stale.status, 200, 'other tag: full answer');
  t.equal(stale.body.toString(), '{"ok":true}\n');
  // If-None-Match wins: a non-matching tag means 200 even with a fresh date.
  t.equal((await fetchRaw(client, '/data.json', 'GET', { 'if-none-match': '"x"', 'if-modified-since': later })).status, 200);
  const older = new Date(Date.parse(lastModified) - 3600_000).toUTCString();
  t.equal((await fetchRaw(client, '/data.json', 'GET', { 'if-modified-since': older })).status, 200);
  t.equal((await fetchRaw(client, '/data.json', 'GET', { 'if-modified-since': 'not a date' })).status, 200);
});

t.test('path traversal never leaves the root', async (t) => {
  const attempts = [
    '/../secret.txt',
    '/sub/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E/secret.txt',
    '/..%2fsecret.txt',
    '/sub%2f..%2f..%2fsecret.txt',
    '/..%5csecret.txt',
    '/escape-link',
    '/data.json%00.html',
    '/%zz',
    'http://127.0.0.1/../secret.txt',
  ];
  for (const path of attempts) {
    const r = await fetchRaw(client, path);
    t.ok(r.status === 400 || r.status === 404, `${path} refused with ${r.status}`);
    t.notMatch(r.body.toString(), /TOP-SECRET/, `${path} leaks nothing`);
  }
});

t.test('404 and 405', async (t) => {
  const missing = await fetchRaw(client, '/no-such-file.html');
  t.equal(missing.status, 404);
  t.equal(missing.headers['x-backend'], 'static-test');
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await fetchRaw(client, '/index.html', method);
    t.equal(r.status, 405, method);
    t.equal(r.headers.allow, 'GET, HEAD');
  }
});

t.test('keep-alive: requests reuse one connection', async (t) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const reused: boolean[] = [];
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: server.port, path: '/data.json', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
      reused.push(req.reusedSocket);
    });
  }
  t.same(reused, [false, true, true]);
});

// The demo images must be images a browser can show: check their structure
// down to the pixels rather than trusting the file names.
function checkPng(t: Test, bytes: Buffer, name: string): void {
  t.ok(bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), `${name} signature`);
  let off = 8;
  const idat: Buffer[] = [];
  let width = 0;
  let height = 0;
  let sawEnd = false;
  while (off < bytes.length && !sawEnd) {
    const len = bytes.readUInt32BE(off);
    const type = bytes.toString('latin1', off + 4, off + 8);
    const data = bytes.subarray(off + 8, off + 8 + len);
    const crc = bytes.readUInt32BE(off + 8 + len);
    t.equal(crc, crc32(bytes.subarray(off + 4, off + 8 + len)), `${name} ${type} CRC`);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      t.equal(data[8], 8, `${name} bit depth`);
      t.equal(data[9], 6, `${name} RGBA`);
    }
    if (type === 'IDAT') idat.push(data);
    if (type === 'IEND') sawEnd = true;
    off += 12 + len;
  }
  t.ok(sawEnd && off === bytes.length, `${name} ends with IEND`);
  const raw = inflateSync(Buffer.concat(idat));
  t.equal(raw.length, height * (width * 4 + 1), `${name} pixel data size for ${width}x${height}`);
}

/** Decodes the first GIF frame's LZW data; returns the pixel count. */
function gifPixelCount(bytes: Buffer): { width: number; height: number; pixels: number } {
  const width = bytes.readUInt16LE(6);
  const height = bytes.readUInt16LE(8);
  const flags = bytes[10];
  let off = 13 + (flags & 0x80 ? 3 * (1 << ((flags & 7) + 1)) : 0);
  while (bytes[off] === 0x21) {
    off += 2;
    while (bytes[off] !== 0) off += bytes[off] + 1;
    off++;
  }
  if (bytes[off] !== 0x2c) throw new Error('no image descriptor');
  const local = bytes[off + 9];
  off += 10 + (local & 0x80 ? 3 * (1 << ((local & 7) + 1)) : 0);
  const minCode = bytes[off++];
  const data: number[] = [];
  while (bytes[off] !== 0) {
    const n = bytes[off];
    for (let i = 1; i <= n; i++) data.push(bytes[off + i]);
    off += n + 1;
  }
  if (bytes[off + 1] !== 0x3b) throw new Error('no trailer');
  const clear = 1 << minCode;
  let size = minCode + 1;
  let dict: number[][] = [];
  const reset = (): void => {
    dict = [];
    for (let i = 0; i < clear; i++) dict.push([i]);
    dict.push([], []);
    size = minCode + 1;
  };
  reset();
  let prev: number[] | null = null;
  let pixels = 0;
  let bit = 0;
  for (;;) {
    let code = 0;
    for (let i = 0; i < size; i++, bit++) code |= ((data[bit >> 3] >> (bit & 7)) & 1) << i;
    if (code === clear) {
      reset();
      prev = null;
      continue;
    }
    if (code === clear + 1) break;
    let entry: number[];
    if (code < dict.length) entry = dict[code];
    else if (prev !== null && code === dict.length) entry = [...prev, prev[0]];
    else throw new Error(`bad LZW code ${code}`);
    pixels += entry.length;
    if (prev !== null) dict.push([...prev, entry[0]]);
    if (dict.length === 1 << size && size < 12) size++;
    prev = entry;
  }
  return { width, height, pixels };
}

t.test('demo images are served with their types and are real images', async (t) => {
  const images = await startStaticServer({ root: IMAGES_DIR, host: '127.0.0.1', port: 0, name: 'images-t', urlPrefix: '/images/' });
  const imageClient = new Client(`http://127.0.0.1:${images.port}`);
  t.teardown(async () => {
    await imageClient.close();
    await images.close();
  });
  const expected: Array<[string, string]> = [
    ['tcpvs-logo.png', 'image/png'],
    ['tile-16.png', 'image/png'],
    ['badge.gif', 'image/gif'],
    ['request-flow.svg', 'image/svg+xml'],
  ];
  for (const [file, type] of expected) {
    const r = await fetchRaw(imageClient, '/images/' + file);
    t.equal(r.status, 200, file);
    t.equal(r.headers['content-type'], type, `${file} type`);
    t.ok(r.body.equals(readFileSync(join(IMAGES_DIR, file))), `${file} bytes`);
    if (type === 'image/png') checkPng(t, r.body, file);
    if (type === 'image/gif') {
      t.equal(r.body.toString('latin1', 0, 6), 'GIF89a');
      const gif = gifPixelCount(r.body);
      t.equal(gif.pixels, gif.width * gif.height, `${file} decodes to ${gif.width}x${gif.height} pixels`);
    }
    if (type === 'image/svg+xml') t.match(r.body.toString(), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[\s\S]*<\/svg>\s*$/);
  }
  t.equal((await fetchRaw(imageClient, '/badge.gif')).status, 404, 'outside the URL prefix');
  const bare = await fetchRaw(imageClient, '/images');
  t.equal(bare.status, 301);
  t.equal(bare.headers.location, '/images/');
  t.equal((await fetchRaw(imageClient, '/images/../site/index.html')).status, 400);
});

t.test('startDemoBackends: all groups answer, each server names itself', async (t) => {
  const demo = await startDemoBackends({ basePort: 0, onScriptStderr: () => {} });
  t.teardown(() => demo.close());
  t.equal(demo.groups.static.length, 2);
  t.equal(demo.groups.images.length, 1);
  t.equal(demo.groups.cgi.length, 1);
  const names: string[] = [];
  const probe = async (address: string, path: string): Promise<Reply> => {
    const c = new Client(`http://${address}`);
    try {
      return await fetchRaw(c, path);
    } finally {
      await c.close();
    }
  };
  for (const address of demo.groups.static) {
    t.match(address, /^127\.0\.0\.1:\d+$/);
    const r = await probe(address, '/');
    t.equal(r.status, 200);
    t.ok(r.body.equals(readFileSync(join(SITE_DIR, 'index.html'))), 'the demo start page');
    names.push(String(r.headers['x-backend']));
  }
  const css = await probe(demo.groups.static[0], '/style.css');
  t.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  const image = await probe(demo.groups.images[0], '/images/tcpvs-logo.png');
  t.equal(image.headers['content-type'], 'image/png');
  names.push(String(image.headers['x-backend']));
  const cgi = await probe(demo.groups.cgi[0], '/cgi-bin/env.sh');
  t.equal(cgi.status, 200);
  t.match(cgi.body.toString(), /^GATEWAY_INTERFACE=CGI\/1\.1$/m);
  names.push(String(cgi.headers['x-backend']));
  t.same(names, ['static-1', 'static-2', 'images-1', 'cgi-1']);
});

/** True when 127.0.0.1:port can be bound right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

t.test('startDemoBackends releases its ports when one is taken', async (t) => {
  // Ports below the kernel's ephemeral range (32768 and up here), so no
  // connection of another test is handed one of them meanwhile; a base whose
  // static-1 port is free and whose images port we hold ourselves.
  let blocker: Awaited<ReturnType<typeof startStaticServer>> | null = null;
  let base = 0;
  for (let attempt = 0; attempt < 200 && blocker === null; attempt++) {
    const candidate = 20000 + Math.floor(Math.random() * 12000);
    if (!(await portFree(candidate + 1))) continue;
    try {
      blocker = await startStaticServer({ root, host: '127.0.0.1', port: candidate + 2, name: 'blocker' });
      base = candidate;
    } catch {
      // taken: try another
    }
  }
  if (blocker === null) throw new Error('no free pair of ports found in 200 tries');
  const held = blocker;
  t.teardown(() => held.close());
  // basePort + 2 is the images server: static-1 binds, then images fails.
  await t.rejects(startDemoBackends({ basePort: base }), { code: 'EADDRINUSE' });
  // static-1's port (base + 1) must be free again.
  const again = await startStaticServer({ root, host: '127.0.0.1', port: base + 1, name: 'again' });
  await again.close();
});
