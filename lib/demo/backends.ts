// Starts the demo real servers that `npm start` puts behind tcpvs: two static
// servers (so scheduling is visible), one images server, one CGI server.

import { join } from 'node:path';
import { startStaticServer } from './static-server.ts';
import { startCgiServer } from './cgi-server.ts';
import type { RunningServer } from './http-util.ts';

export interface DemoBackends {
  groups: { static: string[]; images: string[]; cgi: string[] }; // "host:port"
  close(): Promise<void>;
}

export interface DemoBackendOptions {
  host?: string; // default 127.0.0.1
  // Ports are basePort+1 (static-1), +2 (images-1), +3 (cgi-1), +4 (static-2).
  // Default 9100. 0: every server on an ephemeral port (tests).
  basePort?: number;
  onScriptStderr?: (script: string, chunk: Buffer) => void;
}

export const DEMO_DIR = import.meta.dirname;
export const SITE_DIR = join(DEMO_DIR, 'site');
export const IMAGES_DIR = join(DEMO_DIR, 'images');
export const CGI_DIR = join(DEMO_DIR, 'cgi-bin');
export const IMAGES_URL_PREFIX = '/images/';

export async function startDemoBackends(opts: DemoBackendOptions = {}): Promise<DemoBackends> {
  const host = opts.host ?? '127.0.0.1';
  const base = opts.basePort ?? 9100;
  const portAt = (offset: number): number => (base === 0 ? 0 : base + offset);
  const started: RunningServer[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(started.map((s) => s.close()));
  };
  const address = (s: RunningServer): string => `${host.includes(':') ? `[${host}]` : host}:${s.port}`;
  const keep = (s: RunningServer): RunningServer => {
    started.push(s);
    return s;
  };
  try {
    const static1 = keep(await startStaticServer({ root: SITE_DIR, host, port: portAt(1), name: 'static-1' }));
    const images1 = keep(
      await startStaticServer({ root: IMAGES_DIR, host, port: portAt(2), name: 'images-1', urlPrefix: IMAGES_URL_PREFIX }),
    );
    const cgi1 = keep(
      await startCgiServer({ scriptDir: CGI_DIR, host, port: portAt(3), name: 'cgi-1', onScriptStderr: opts.onScriptStderr }),
    );
    const static2 = keep(await startStaticServer({ root: SITE_DIR, host, port: portAt(4), name: 'static-2' }));
    return {
      groups: {
        static: [address(static1), address(static2)],
        images: [address(images1)],
        cgi: [address(cgi1)],
      },
      close: closeAll,
    };
  } catch (err) {
    // One port was taken: release the ones already bound before reporting it.
    await closeAll();
    throw err;
  }
}

// `node lib/demo/backends.ts` runs the backends alone, e.g. to try them without tcpvs.
if (import.meta.main) {
  const demo = await startDemoBackends();
  console.log(JSON.stringify(demo.groups));
  const stop = (): void => {
    void demo.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
