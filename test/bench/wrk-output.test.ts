// The proxy bench reads wrk's --latency report: requests, duration, the 50th
// and 99th percentiles in wrk's units, socket errors and non-2xx responses.
import t from 'tap';
import { parseWrk } from '../../bench/lib/load.ts';

const REPORT = `Running 1s test @ http://127.0.0.1:18099/bad
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   349.26us    0.98ms  11.70ms   93.71%
    Req/Sec    34.11k    13.04k   48.34k    70.00%
  Latency Distribution
     50%  106.00us
     75%  146.00us
     90%  540.00us
     99%    5.59ms
  33843 requests in 1.00s, 4.62MB read
  Socket errors: connect 0, read 2, write 1, timeout 3
  Non-2xx or 3xx responses: 33843
Requests/sec:  33828.62
Transfer/sec:      4.61MB
`;

t.test('a report with errors, in microseconds and milliseconds', async (t) => {
  const s = parseWrk(REPORT, 1.2);
  t.equal(s.requests, 33843);
  t.equal(s.durationSeconds, 1);
  t.equal(s.rps, 33843);
  t.equal(s.p50Ms, 0.106);
  t.equal(s.p99Ms, 5.59);
  t.equal(s.errors, 6, 'read, write and timeout errors');
  t.equal(s.timeouts, 3);
  t.equal(s.non2xx, 33843);
  t.equal(Math.round(s.bytesPerSecond), Math.round(4.61 * 1024 * 1024));
});

t.test('seconds, and a clean run', async (t) => {
  const clean = REPORT.replace('  Socket errors: connect 0, read 2, write 1, timeout 3\n', '')
    .replace('  Non-2xx or 3xx responses: 33843\n', '')
    .replace('     99%    5.59ms', '     99%    1.20s')
    .replace('in 1.00s', 'in 6.01s');
  const s = parseWrk(clean, 6);
  t.equal(s.p99Ms, 1200);
  t.equal(s.errors, 0);
  t.equal(s.non2xx, 0);
  t.equal(s.durationSeconds, 6.01);
});

t.test('output that is not a wrk report is an error, not zeros', async (t) => {
  t.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused', 1), /cannot read wrk's output/);
});
