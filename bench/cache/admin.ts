// The harness's side of the admin paths of the cache nodes and the origin.
import http from 'node:http';
import { fetchOnce } from '../lib/processes.ts';
import type { CacheNodeStats } from './cache-server.ts';

/** One POST without a body on a fresh connection; rejects unless the answer is 2xx. */
export function postOnce(port: number, path: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve();
        else reject(new Error(`POST ${path} on port ${port}: status ${status}`));
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`POST ${path} on port ${port}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function readNodeStats(port: number): Promise<CacheNodeStats> {
  const response = await fetchOnce(port, '/_stats', 5000);
  if (response.status !== 200) throw new Error(`GET /_stats on port ${port}: status ${response.status}`);
  return JSON.parse(response.body.toString('utf8')) as CacheNodeStats;
}

export async function flushAll(ports: readonly number[]): Promise<void> {
  await Promise.all(ports.map((port) => postOnce(port, '/_flush', 5000)));
}

export async function resetAll(ports: readonly number[]): Promise<void> {
  await Promise.all(ports.map((port) => postOnce(port, '/_reset', 5000)));
}

export function setOriginDelay(originPort: number, ms: number): Promise<void> {
  return postOnce(originPort, `/_delay?ms=${ms}`, 5000);
}
