// The load agent tcpvs ships for its agent check (`tcpvs agent --listen
// HOST:PORT`), to run on each real server. It answers every connection with
// one line and closes:
//
//   73% ready # load1 1.08 cpus 4 runnable 2
//
// weight = max(1, round(100 × (1 − min(1, load1 / cpus))))%
//
// load1 is the 1-minute load average and cpus the CPUs this host may use:
// an idle host asks for its full weight, a host whose load equals its CPU
// count (or more) for 1%, never 0, so a busy server still gets a trickle and
// only a health check takes it out. `ready` keeps it up and ends any drain or
// maint. The description after `#` (ignored by tcpvs, logged by HAProxy)
// also gives the run queue, from /proc/loadavg: runnable tasks now, this
// agent's own excluded. load1 decides the weight because it is smoothed: the
// run queue is an instant sample and would make weights jitter.
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { formatEndpoint, parseEndpoint } from '../config/tokenize.ts';

export interface HostLoad {
  load1: number;
  cpus: number;
  runnable: number | null; // null where /proc/loadavg is not there
}

/** The 1-minute load, CPU count and run queue of this host. */
export async function readHostLoad(): Promise<HostLoad> {
  const cpus = os.availableParallelism();
  try {
    // "0.52 0.58 0.59 2/1234 5678": the 4th field is runnable/total tasks,
    // and the runnable count includes the task reading the file.
    const fields = (await readFile('/proc/loadavg', 'latin1')).trim().split(/\s+/);
    const load1 = Number(fields[0]);
    const runnable = Number(fields[3]?.split('/')[0]);
    if (Number.isFinite(load1) && Number.isInteger(runnable)) return { load1, cpus, runnable: Math.max(0, runnable - 1) };
  } catch {
    // not Linux: os.loadavg() below
  }
  return { load1: os.loadavg()[0], cpus, runnable: null };
}

/** The agent's weight percentage for a load (see the formula above). */
export function loadWeightPercent(load1: number, cpus: number): number {
  const busy = Math.min(1, Math.max(0, load1) / Math.max(1, cpus));
  return Math.max(1, Math.round(100 * (1 - busy)));
}

/** The reply line, newline included. */
export function loadAgentLine(load: HostLoad): string {
  const runnable = load.runnable === null ? '' : ` runnable ${load.runnable}`;
  return `${loadWeightPercent(load.load1, load.cpus)}% ready # load1 ${load.load1.toFixed(2)} cpus ${load.cpus}${runnable}\n`;
}

export interface LoadAgentOptions {
  host: string;
  port: number; // 0: any free port
  /** Where the load comes from; tests give a fixed one. */
  readLoad?: () => Promise<HostLoad>;
}

export interface LoadAgent {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

const SOCKET_TIMEOUT_MS = 5_000;

export function startLoadAgent(options: LoadAgentOptions): Promise<LoadAgent> {
  const readLoad = options.readLoad ?? readHostLoad;
  const server = net.createServer((socket) => {
    socket.setTimeout(SOCKET_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => {}); // the checker may reset; nothing to do
    readLoad().then(
      (load) => socket.end(loadAgentLine(load)),
      () => socket.destroy(),
    );
  });
  server.maxConnections = 256;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      const address = server.address() as net.AddressInfo;
      resolve({
        host: options.host,
        port: address.port,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}

const USAGE = 'usage: tcpvs agent --listen HOST:PORT';

export interface AgentMainOptions {
  stop?: AbortSignal; // ends the agent like SIGTERM (tests)
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

/**
 * `tcpvs agent --listen HOST:PORT`: runs the load agent until SIGINT or
 * SIGTERM. Resolves with the exit code: 0, 1 when it cannot listen, 2 on a
 * usage error.
 */
export async function agentMain(argv: readonly string[], options: AgentMainOptions = {}): Promise<number> {
  const out = options.stdout ?? ((text: string) => void process.stdout.write(text));
  const err = options.stderr ?? ((text: string) => void process.stderr.write(text));
  const stop = options.stop;
  let listen: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      out(`${USAGE}\nAnswers each connection with one line for tcpvs's (or HAProxy's) agent check, e.g. "73% ready".\n`);
      return 0;
    }
    if (arg === '--listen' || arg === '-l') listen = argv[++i];
    else if (arg.startsWith('--listen=')) listen = arg.slice('--listen='.length);
    else {
      err(`tcpvs agent: unexpected '${arg}'\n${USAGE}\n`);
      return 2;
    }
  }
  if (listen === undefined) {
    err(`tcpvs agent: --listen HOST:PORT is required\n${USAGE}\n`);
    return 2;
  }
  const endpoint = parseEndpoint(listen, true);
  if (!endpoint.ok) {
    err(`tcpvs agent: ${endpoint.message}\n`);
    return 2;
  }
  let agent: LoadAgent;
  try {
    agent = await startLoadAgent(endpoint.value);
  } catch (e) {
    err(`tcpvs agent: cannot listen on ${listen}: ${(e as Error).message}\n`);
    return 1;
  }
  err(`tcpvs agent: listening on ${formatEndpoint({ host: agent.host, port: agent.port })}\n`);
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      stop?.removeEventListener('abort', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
    if (stop?.aborted) done();
    else stop?.addEventListener('abort', done);
  });
  await agent.close();
  return 0;
}
