// How a head goes out with its body bytes (coalesce.ts), against a socket
// that records its calls: one write while the body is small, corked writes
// beyond, and borrowed bytes copied.
import type net from 'node:net';
import t from 'tap';
import { COALESCE_LIMIT, writeHead } from '../../lib/proxy/coalesce.ts';

interface Call {
  op: 'write' | 'cork' | 'uncork';
  data?: Buffer | string;
}

function recorder(writeReturns = true): { socket: net.Socket; calls: Call[] } {
  const calls: Call[] = [];
  const socket = {
    write(data: Buffer | string) {
      calls.push({ op: 'write', data });
      return writeReturns;
    },
    cork() {
      calls.push({ op: 'cork' });
    },
    uncork() {
      calls.push({ op: 'uncork' });
    },
  } as unknown as net.Socket;
  return { socket, calls };
}

const text = (d: Buffer | string | undefined) => (typeof d === 'string' ? d : d!.toString('latin1'));

t.test('a head alone: one string write', async (t) => {
  const { socket, calls } = recorder();
  t.equal(writeHead(socket, null, 'HEAD\r\n\r\n', null, 0, 0, false), true);
  t.same(calls, [{ op: 'write', data: 'HEAD\r\n\r\n' }]);
});

t.test('a small body goes in the same buffer as the head', async (t) => {
  const { socket, calls } = recorder();
  const buf = Buffer.from('xxbodyyy');
  writeHead(socket, null, 'H\r\n\r\n', buf, 2, 6, true);
  t.equal(calls.length, 1, 'one write');
  t.equal(text(calls[0].data), 'H\r\n\r\nbody', 'head and the body bytes asked for');
});

t.test('a PROXY header first, in the same write', async (t) => {
  const { socket, calls } = recorder();
  writeHead(socket, Buffer.from('PROXY x\r\n'), 'H\r\n\r\n', null, 0, 0, false);
  t.same(
    calls.map((c) => c.op),
    ['write'],
  );
  t.equal(text(calls[0].data), 'PROXY x\r\nH\r\n\r\n');
  const body = Buffer.from('b');
  calls.length = 0;
  writeHead(socket, Buffer.from('P\r\n'), 'H\r\n\r\n', body, 0, 1, false);
  t.equal(text(calls[0].data), 'P\r\nH\r\n\r\nb', 'with a small body too');
});

t.test('a large body: head and body corked, borrowed bytes copied', async (t) => {
  const big = Buffer.alloc(COALESCE_LIMIT + 1, 0x61);
  for (const lent of [false, true]) {
    const { socket, calls } = recorder();
    writeHead(socket, null, 'H\r\n\r\n', big, 0, big.length, lent);
    t.same(
      calls.map((c) => c.op),
      ['cork', 'write', 'write', 'uncork'],
      `lent ${lent}: corked`,
    );
    t.equal(calls[1].data, 'H\r\n\r\n', 'the head as a string');
    const body = calls[2].data as Buffer;
    t.equal(body.length, big.length);
    t.equal(body === big, !lent, lent ? 'a copy of borrowed bytes' : 'the bytes themselves');
  }
  const { socket, calls } = recorder();
  writeHead(socket, Buffer.from('P\r\n'), 'H\r\n\r\n', big, 0, big.length, false);
  t.same(
    calls.map((c) => c.op),
    ['cork', 'write', 'write', 'uncork'],
  );
  t.equal(text(calls[1].data), 'P\r\nH\r\n\r\n', 'PROXY header and head together, then the body');
});

t.test('the result is what the last write said', async (t) => {
  const { socket } = recorder(false);
  t.equal(writeHead(socket, null, 'H\r\n\r\n', null, 0, 0, false), false);
  t.equal(writeHead(socket, null, 'H\r\n\r\n', Buffer.alloc(COALESCE_LIMIT + 1), 0, COALESCE_LIMIT + 1, false), false);
});
