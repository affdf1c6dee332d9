// The stats page in a real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core): the tables show the service, its groups and
// servers with their counts, the page refreshes itself in place after more
// requests, the CSP lets its own style and script run, and a screenshot is
// left in test/artifacts/stats-page.png. This test installs nothing: it
// skips when Chromium or playwright-core is missing.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdentityBackend } from '../helpers/backends.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import { REPO_ROOT, serviceConfig, startTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil } from '../helpers/wait.ts';
import { startAdminHttp } from '../../lib/admin/http.ts';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'browser-token-0123456789';
const SCREENSHOT = join(REPO_ROOT, 'test', 'artifacts', 'stats-page.png');

// Only what this test uses of playwright-core; imported by a computed name so
// the type check passes where the package is not installed.
interface Page {
  goto(url: string, opts?: { waitUntil?: 'load' | 'domcontentloaded'; timeout?: number }): Promise<{ status(): number } | null>;
  evaluate<R, A>(fn: (arg: A) => R, arg: A): Promise<R>;
  waitForFunction<A>(fn: (arg: A) => boolean, arg: A, opts: { timeout: number; polling?: number }): Promise<unknown>;
  screenshot(opts: { path: string; fullPage?: boolean }): Promise<unknown>;
  close(): Promise<void>;
  on(event: 'console', listener: (msg: { type(): string; text(): string }) => void): void;
  on(event: 'pageerror', listener: (err: Error) => void): void;
}
interface BrowserContext {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface Playwright {
  chromium: {
    launchPersistentContext(
      userDataDir: string,
      opts: { executablePath: string; args: string[]; headless: boolean; viewport: { width: number; height: number }; timeout: number },
    ): Promise<BrowserContext>;
  };
}

async function loadPlaywright(): Promise<Playwright | null> {
  const name = 'playwright-core';
  try {
    return (await import(name)) as Playwright;
  } catch {
    return null;
  }
}

const playwright = await loadPlaywright();
const skip = !existsSync(CHROMIUM)
  ? `no ${CHROMIUM} (apt-get install chromium)`
  : playwright === null
    ? 'playwright-core is not installed (npm install)'
    : false;
if (skip !== false) t.comment(`stats page browser test skipped: ${skip}`);

t.test('the stats page in headless Chromium: tables, self-refresh, screenshot', { skip }, async (t) => {
  const a1 = await startIdentityBackend('a1');
  const a2 = await startIdentityBackend('a2');
  const b = await startIdentityBackend('b');
  t.teardown(() => Promise.all([a1.close(), a2.close(), b.close()]));
  const tcpvs = await startTcpvs(
    serviceConfig({
      groups: [
        { name: 'alpha', scheduler: 'wrr', servers: [{ port: a1.port, weight: 3 }, a2.port] },
        { name: 'beta', servers: [b.port] },
      ],
      routes: ['a prefix /a/ to alpha', 'b prefix /b/ to beta'],
    }),
  );
  t.teardown(() => tcpvs.close());
  const stats = tcpvs.running.stats;
  const admin = await startAdminHttp({ host: '127.0.0.1', port: 0, token: TOKEN, stats });
  t.teardown(() => admin.close());

  const client = await RawClient.connect(tcpvs.port);
  t.teardown(() => client.close());
  async function send(path: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      client.write(requestHead('GET', `${path}${i}`));
      const res = await client.readResponse();
      if (res.status !== 200) throw new Error(`GET ${path}${i}: ${res.status}`);
    }
  }
  await send('/a/', 8);
  await send('/b/', 4);
  await pollUntil(() => stats.snapshot().services[0].requests.total >= 12, 2000);

  const userDataDir = mkdtempSync(join(tmpdir(), 'tcpvs-chromium-'));
  t.teardown(() => rmSync(userDataDir, { recursive: true, force: true }));
  const context = await playwright!.chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    headless: true,
    viewport: { width: 1400, height: 800 },
    timeout: 30_000,
  });
  t.teardown(() => context.close());
  // Without the token: 401 (on a page of its own, whose failed load is expected).
  const deniedPage = await context.newPage();
  const denied = await deniedPage.goto(`http://127.0.0.1:${admin.address.port}/`, { timeout: 10_000 });
  t.equal(denied?.status(), 401, 'without the token the browser gets 401');
  await deniedPage.close();

  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));

  const url = `http://127.0.0.1:${admin.address.port}/?token=${TOKEN}`;
  const response = await page.goto(url, { waitUntil: 'load', timeout: 10_000 });
  t.equal(response?.status(), 200);

  // What the page shows, read from the DOM by the data-* attributes the rows carry.
  const read = () =>
    page.evaluate(() => {
      const text = (el: Element | null | undefined) => el?.textContent?.trim() ?? null;
      const section = document.querySelector('section[data-service="test"]');
      const rows = [...(section?.querySelectorAll('tr[data-group]') ?? [])].map((tr) => ({
        group: tr.getAttribute('data-group'),
        server: tr.getAttribute('data-server'),
        name: text(tr.querySelector('[data-stat="name"]')),
        state: text(tr.querySelector('[data-stat="state"]')),
        total: text(tr.querySelector('[data-stat="total"]')),
        p50: text(tr.querySelector('[data-stat="p50"]')),
      }));
      const background = getComputedStyle(document.body).backgroundColor;
      return {
        title: document.title,
        heading: text(section?.querySelector('h2')),
        requests: text(section?.querySelector('[data-stat="req-total"]')),
        generatedAt: document.querySelector('main')?.getAttribute('data-generated-at') ?? null,
        rows,
        background,
        marker: (window as unknown as { statsTestMarker?: number }).statsTestMarker ?? null,
      };
    }, null);

  const first = await read();
  t.match(first.title, /^tcpvs stats/);
  t.match(first.heading, /^test127\.0\.0\.1:\d+$/, 'the service name and its address');
  t.equal(first.requests, '12');
  t.not(first.background, 'rgba(0, 0, 0, 0)', 'the inline style applied (the CSP allowed it)');
  const row = (group: string, server?: number) =>
    first.rows.find((r) => r.group === group && (server === undefined ? r.server === null : r.server === `127.0.0.1:${server}`));
  t.match(row('alpha'), { name: 'alphawrr', state: '2/2 up', total: '8' });
  t.match(row('beta'), { name: 'betawlc', total: '4' });
  t.match(row('beta', b.port), { name: `127.0.0.1:${b.port}`, state: 'UP', total: '4' });
  const a1Total = Number(row('alpha', a1.port)?.total);
  const a2Total = Number(row('alpha', a2.port)?.total);
  t.equal(a1Total, a1.requests.length, 'server rows show what each backend served');
  t.equal(a2Total, a2.requests.length);
  t.ok(a1Total > 0 && a2Total > 0, 'both alpha servers have non-zero counts');
  t.match(row('alpha', a1.port)?.p50, /ms$/, 'a latency is shown');

  // More requests, a server marked down, then wait for the page to refresh
  // itself: in place (the marker survives), not by reloading.
  await page.evaluate(() => {
    (window as unknown as { statsTestMarker?: number }).statsTestMarker = 1;
  }, null);
  await send('/b/', 5);
  tcpvs.servers('alpha')[1].upByChecks = false;
  await pollUntil(() => stats.snapshot().services[0].requests.total >= 17, 2000);
  await page.waitForFunction(
    (before: string | null) => {
      const main = document.querySelector('main');
      const beta = document.querySelector('section[data-service="test"] tr.group[data-group="beta"] [data-stat="total"]');
      return main?.getAttribute('data-generated-at') !== before && beta?.textContent?.trim() === '9';
    },
    first.generatedAt,
    { timeout: 10_000, polling: 100 },
  );
  const second = await read();
  t.equal(second.marker, 1, 'the page refreshed in place, without a reload');
  t.not(second.generatedAt, first.generatedAt);
  t.equal(second.requests, '17', 'the service total changed after more requests');
  t.match(
    second.rows.find((r) => r.group === 'beta' && r.server === null),
    { total: '9' },
  );
  t.match(
    second.rows.find((r) => r.server === `127.0.0.1:${a2.port}`),
    { state: 'DOWN' },
    'a server marked down shows DOWN after the refresh',
  );
  t.match(
    second.rows.find((r) => r.group === 'alpha' && r.server === null),
    { state: '1/2 up' },
  );

  mkdirSync(join(REPO_ROOT, 'test', 'artifacts'), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  t.ok(existsSync(SCREENSHOT), `screenshot at ${SCREENSHOT}`);
  t.same(problems, [], 'no console errors or CSP violations');
});
