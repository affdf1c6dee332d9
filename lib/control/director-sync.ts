// State sync between two directors, as IPVS's sync daemon does for its
// persistence templates: each director sends its peer the templates its
// user-space core makes or refreshes and the entries its groups' tables learn
// (source and header persistence, lblc/lblcr: table-sync.ts); the peer
// adopts them, so that after a failover a persistent client reaches the same
// real server. Symmetric: the master has traffic and sends; the backup has
// none and sends nothing, and the roles swap with the address. A
// (re)connection starts with a snapshot.
//
// The wire: TCP to the peer's `sync listen` address. The listener sends
// "tcpvs-sync 1 NONCE"; the sender proves the shared secret with
// HMAC-SHA256(secret, "auth:" NONCE); then each line is
// JSON TAB HMAC(secret, NONCE ":" SEQ ":" JSON), SEQ counting from 1, so a
// line cannot be forged, replayed or reordered without the secret. Anything
// else closes the connection, with a log line.
import net from 'node:net';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SyncedTemplate, UserspaceCore } from '../l4/userspace/core.ts';
import type { SyncSample } from '../stats/prometheus.ts';
import { checkTableBatches, type TableBatch, type TableSync } from './table-sync.ts';
import type { Endpoint } from '../config/model.ts';
import type { Logger } from '../log/logger.ts';

export interface SyncSpec {
  listen: Endpoint;
  peer: Endpoint;
  secret: string;
}

const FLUSH_MS = 500;
const RETRY_MS = 1000;
const MAX_LINE = 1 << 20; // a batch of ~5000 templates
const BATCH = 2000;

export class DirectorSync {
  private readonly core: UserspaceCore | null;
  private readonly tables: TableSync | null;
  private readonly spec: SyncSpec;
  private readonly log: Logger;
  private server: net.Server | null = null;
  private sender: net.Socket | null = null;
  private senderReady: { nonce: string; seq: number } | null = null;
  private readonly dirty = new Map<string, SyncedTemplate>();
  private flushTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private lastConnectError = '';
  /** L4 templates adopted from the peer so far (tests, stats); the tables count their own. */
  adopted = 0;

  constructor(core: UserspaceCore | null, tables: TableSync | null, spec: SyncSpec, log: Logger) {
    this.core = core;
    this.tables = tables;
    this.spec = spec;
    this.log = log;
  }

  async start(): Promise<void> {
    this.server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (err) =>
        reject(new Error(`sync listen ${this.spec.listen.host}:${this.spec.listen.port}: ${err.message}`)),
      );
      this.server!.listen(this.spec.listen.port, this.spec.listen.host, () => resolve());
    });
    this.core?.watchTemplates((t) => this.dirty.set(`${t.service} ${t.client}`, t));
    this.flushTimer = setInterval(() => this.flush(), FLUSH_MS);
    this.flushTimer.unref();
    this.connect();
  }

  close(): void {
    this.closed = true;
    this.core?.watchTemplates(null);
    if (this.flushTimer !== null) clearInterval(this.flushTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.sender?.destroy();
    this.server?.close();
  }

  status(): SyncSample {
    return {
      connected: this.senderReady !== null,
      templatesAdopted: this.adopted,
      tableEntriesAdopted: this.tables?.adopted ?? 0,
      tableEntriesSent: this.tables?.sent ?? 0,
    };
  }

  // ---- sending to the peer ----------------------------------------------

  private connect(): void {
    if (this.closed) return;
    const socket = net.connect({ host: this.spec.peer.host, port: this.spec.peer.port });
    this.sender = socket;
    let buffered = '';
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      if (this.senderReady !== null) return; // the listener says nothing after its greeting
      buffered += text;
      const end = buffered.indexOf('\n');
      if (end === -1) {
        if (buffered.length > 256) socket.destroy();
        return;
      }
      const m = /^tcpvs-sync 1 ([0-9a-f]{32})$/.exec(buffered.slice(0, end));
      if (m === null) {
        this.log.warn({ peer: this.peerText() }, 'sync: the peer does not speak tcpvs sync');
        socket.destroy();
        return;
      }
      const nonce = m[1];
      socket.write(`${mac(this.spec.secret, `auth:${nonce}`)}\n`);
      this.senderReady = { nonce, seq: 0 };
      if (this.lastConnectError !== '') this.log.info({ peer: this.peerText() }, 'sync: connected to the peer again');
      this.lastConnectError = '';
      // A (re)connected peer may have missed everything: start with what is live.
      if (this.core !== null) this.send(this.core.templateSnapshot());
      if (this.tables !== null) this.sendTables(this.tables.changes(true));
    });
    socket.on('error', (err) => {
      if (err.message !== this.lastConnectError)
        this.log.warn({ peer: this.peerText(), reason: err.message }, 'sync: cannot reach the peer; retrying');
      this.lastConnectError = err.message;
    });
    socket.on('close', () => {
      if (this.sender === socket) {
        this.sender = null;
        this.senderReady = null;
      }
      if (!this.closed) {
        this.retryTimer = setTimeout(() => this.connect(), RETRY_MS);
        this.retryTimer.unref();
      }
    });
  }

  private flush(): void {
    if (this.senderReady === null) return;
    if (this.tables !== null) this.sendTables(this.tables.changes(false));
    if (this.dirty.size === 0) return;
    const batch = [...this.dirty.values()];
    this.dirty.clear();
    this.send(batch);
  }

  private send(templates: SyncedTemplate[]): void {
    for (let i = 0; i < templates.length; i += BATCH) this.sendLine(JSON.stringify({ templates: templates.slice(i, i + BATCH) }));
  }

  private sendTables(batches: TableBatch[]): void {
    for (const batch of batches) this.sendLine(JSON.stringify({ tables: [batch] }));
  }

  private sendLine(json: string): void {
    const ready = this.senderReady;
    const socket = this.sender;
    if (ready === null || socket === null) return;
    ready.seq++;
    socket.write(`${json}\t${mac(this.spec.secret, `${ready.nonce}:${ready.seq}:${json}`)}\n`);
  }

  // ---- receiving from the peer -------------------------------------------

  private accept(socket: net.Socket): void {
    const from = socket.remoteAddress ?? '';
    const nonce = randomBytes(16).toString('hex');
    let authed = false;
    let seq = 0;
    let buffered = '';
    const refuse = (reason: string): void => {
      this.log.warn({ from, reason }, 'sync: refused');
      socket.destroy();
    };
    socket.on('error', () => {});
    socket.setEncoding('latin1');
    socket.write(`tcpvs-sync 1 ${nonce}\n`);
    socket.on('data', (text: string) => {
      buffered += text;
      for (;;) {
        const end = buffered.indexOf('\n');
        if (end === -1) {
          if (buffered.length > MAX_LINE) refuse(`a line longer than ${MAX_LINE} bytes`);
          return;
        }
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        if (!authed) {
          if (!sameMac(line, mac(this.spec.secret, `auth:${nonce}`))) return refuse('wrong shared secret');
          authed = true;
          continue;
        }
        const tab = line.lastIndexOf('\t');
        const json = tab === -1 ? '' : line.slice(0, tab);
        seq++;
        if (tab === -1 || !sameMac(line.slice(tab + 1), mac(this.spec.secret, `${nonce}:${seq}:${json}`)))
          return refuse(`line ${seq}: bad signature`);
        try {
          const message = JSON.parse(json) as Record<string, unknown>;
          if ('tables' in message) {
            const batches = checkTableBatches(message.tables);
            this.tables?.adopt(batches);
          } else {
            const templates = checkTemplates(message);
            if (this.core !== null) this.adopted += this.core.adoptTemplates(templates);
          }
        } catch (err) {
          return refuse(`line ${seq}: ${(err as Error).message}`);
        }
      }
    });
  }

  private peerText(): string {
    return `${this.spec.peer.host}:${this.spec.peer.port}`;
  }
}

function mac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text, 'latin1').digest('hex');
}

function sameMac(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'latin1');
  const b = Buffer.from(expected, 'latin1');
  return a.length === b.length && timingSafeEqual(a, b);
}

function checkTemplates(message: unknown): SyncedTemplate[] {
  const list = (message as { templates?: unknown }).templates;
  if (!Array.isArray(list)) throw new Error('no templates array');
  return list.map((t: unknown, i: number) => {
    const o = t as Record<string, unknown>;
    const ok =
      typeof o.service === 'string' &&
      typeof o.client === 'string' &&
      typeof o.address === 'string' &&
      Number.isInteger(o.port) &&
      Number.isFinite(o.timeoutMs) &&
      Number.isFinite(o.expiresInMs) &&
      (o.timeoutMs as number) >= 0 &&
      (o.expiresInMs as number) >= 0 &&
      (o.expiresInMs as number) <= 366 * 86_400_000;
    if (!ok) throw new Error(`template ${i} is malformed`);
    return o as unknown as SyncedTemplate;
  });
}
