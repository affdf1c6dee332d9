// A worker thread of `tcpvs start --workers N`: one data path on its own
// listeners (SO_REUSEPORT), over the shared records the control plane in the
// main thread hands it in its plans. It answers the control plane's messages
// (prepare, commit, abort, drain...) and tells it of the ejections it makes.
// Everything it shares with the other workers is in those records, so no
// request ever waits on another thread.
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, flushLogger } from '../log/logger.ts';
import { DataPath } from '../proxy/data-path.ts';
import type { ToWorker, FromWorker, WorkerData } from './workers.ts';

if (parentPort === null) throw new Error('worker-main.ts runs in a worker thread');
const port = parentPort;
const data = workerData as WorkerData;
const log = createLogger(data.log, { worker: data.stripe });
const send = (message: FromWorker) => port.postMessage(message);
const dataPath = new DataPath({
  log,
  stripe: data.stripe,
  listen: { reusePort: true },
  events: { serverEjected: (uid, reason) => send({ type: 'ejected', uid, reason }) },
});

async function handle(message: ToWorker): Promise<unknown> {
  switch (message.type) {
    case 'prepare':
      await dataPath.prepare(message.plan);
      return dataPath.preparedAddresses();
    case 'commit':
      dataPath.commit();
      return null;
    case 'abort':
      await dataPath.abort();
      return null;
    case 'drainService':
      dataPath.service(message.name)?.drainConnections();
      return null;
    case 'drain':
      return dataPath.drain(message.timeoutMs);
    case 'close':
      await dataPath.close();
      flushLogger(log);
      // Nothing is left to keep the thread alive but the port.
      setImmediate(() => port.close());
      return null;
  }
}

port.on('message', (message: ToWorker) => {
  handle(message).then(
    (value) => send({ type: 'done', id: message.id, ok: true, value }),
    (err: unknown) =>
      send({ type: 'done', id: message.id, ok: false, error: (err as Error).message, code: (err as NodeJS.ErrnoException).code }),
  );
});
send({ type: 'ready' });
