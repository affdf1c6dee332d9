// A small static file server used as a demo real server behind tcpvs. It
// serves real files with the validators and status codes a browser or cache
// relies on, and names itself in X-Backend so a user sees which server answered.

import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { open, realpath } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { extname, join, sep } from 'node:path';
import { listen, sendText, splitTarget, type RunningServer } from './http-util.ts';

export interface StaticServerOptions {
  root: string; // folder served
  host: string;
  port: number; // 0: ephemeral
  name: string; // sent as X-Backend
  // URL prefix mapped onto root, e.g. '/images/' serves root/a.png at /images/a.png.
  // Paths outside the prefix are 404. Default '/'.
  urlPrefix?: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.pdf': 'application/pdf',
};

export function contentTypeFor(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export async function startStaticServer(opts: StaticServerOptions): Promise<RunningServer> {
  // Resolve symlinks in root once so the containment check below compares real paths.
  const root = await realpath(opts.root);
  const prefix = normalizePrefix(opts.urlPrefix ?? '/');
  const server: Server = createServer((req, res) => {
    res.setHeader('X-Backend', opts.name);
    serveRequest(root, prefix, req, res).catch((err: unknown) => {
      if (!res.headersSent) sendText(res, 500, 'internal error\n');
      else res.destroy(err instanceof Error ? err : undefined);
    });
  });
  return listen(server, opts.host, opts.port);
}

function normalizePrefix(p: string): string {
  let out = p.startsWith('/') ? p : '/' + p;
  if (!out.endsWith('/')) out += '/';
  return out;
}

async function serveRequest(root: string, prefix: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? '';
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    sendText(res, 405, 'method not allowed\n');
    return;
  }
  const target = splitTarget(req.url ?? '/');
  if (target === null) {
    sendText(res, 400, 'bad request target\n');
    return;
  }
  const urlPath = target.path;
  // '/images' with prefix '/images/' is the folder itself.
  const inPrefix = urlPath.startsWith(prefix) || urlPath + '/' === prefix;
  if (!inPrefix) {
    sendText(res, 404, 'not found\n');
    return;
  }
  const relative = decodeSegments(urlPath.slice(prefix.length));
  if (relative === null) {
    sendText(res, 400, 'bad path\n');
    return;
  }

  let file = join(root, ...relative);
  let fileHandle = await openInside(root, file);
  if (fileHandle === null) {
    sendText(res, 404, 'not found\n');
    return;
  }
  try {
    let stats = await fileHandle.stat();
    if (stats.isDirectory()) {
      await fileHandle.close();
      fileHandle = null;
      if (!urlPath.endsWith('/')) {
        // Relative links in the index only resolve against a URL ending in '/'.
        // Rebuilt from the checked segments, so '//host' can never become the Location.
        const canonical = prefix + relative.map(encodeURIComponent).join('/') + (relative.length > 0 ? '/' : '');
        res.setHeader('Location', canonical + (target.query === '' ? '' : '?' + target.query));
        sendText(res, 301, 'moved\n');
        return;
      }
      file = join(file, 'index.html');
      fileHandle = await openInside(root, file);
      if (fileHandle === null) {
        sendText(res, 404, 'not found\n');
        return;
      }
      stats = await fileHandle.stat();
    }
    if (!stats.isFile()) {
      sendText(res, 404, 'not found\n');
      return;
    }
    const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Last-Modified', stats.mtime.toUTCString());
    res.setHeader('Cache-Control', 'no-cache'); // revalidate every time: shows 304s in the demo
    if (notModified(req, etag, stats)) {
      res.statusCode = 304;
      res.end();
      return;
    }
    res.statusCode = 200;
    res.setHeader('Content-Type', contentTypeFor(file));
    res.setHeader('Content-Length', stats.size);
    if (method === 'HEAD' || stats.size === 0) {
      res.end();
      return;
    }
    const fh = fileHandle;
    fileHandle = null; // the stream owns it now and closes it
    streamFile(fh, stats.size, res);
  } finally {
    if (fileHandle !== null) await fileHandle.close();
  }
}

function streamFile(fh: FileHandle, size: number, res: ServerResponse): void {
  // Read exactly the size we announced, even if the file grows meanwhile.
  const stream = fh.createReadStream({ start: 0, end: size - 1, autoClose: true });
  stream.on('error', (err) => res.destroy(err));
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}

/**
 * Percent-decodes each segment; refuses '..', encoded separators and NUL so no
 * decoded path can name anything outside root. '.' and empty segments vanish.
 */
function decodeSegments(path: string): string[] | null {
  const segments: string[] = [];
  for (const raw of path.split('/')) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (seg === '' || seg === '.') continue;
    if (seg === '..' || seg.includes('/') || seg.includes('\\') || seg.includes('\0')) return null;
    segments.push(seg);
  }
  return segments;
}

/** Opens file if it exists and its real path (after symlinks) is inside root. */
async function openInside(root: string, file: string): Promise<FileHandle | null> {
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    return null;
  }
  if (real !== root && !real.startsWith(root + sep)) return null;
  try {
    return await open(real, 'r');
  } catch {
    return null;
  }
}

function notModified(req: IncomingMessage, etag: string, stats: Stats): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    // Weak comparison (RFC 9110 §13.1.2): If-None-Match wins over If-Modified-Since.
    const bare = etag.slice(2);
    for (const candidate of inm.split(',')) {
      const c = candidate.trim();
      if (c === '*' || c === etag || c === bare || c === 'W/' + bare) return true;
    }
    return false;
  }
  const ims = req.headers['if-modified-since'];
  if (ims !== undefined) {
    const since = Date.parse(ims);
    // HTTP dates have whole seconds; compare at that precision.
    if (!Number.isNaN(since) && Math.floor(stats.mtimeMs / 1000) * 1000 <= since) return true;
  }
  return false;
}
