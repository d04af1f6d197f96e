// `share: true` of the browser client (the BUILT dist/client/index.js) in real headless Chromium
// behind a REAL Pushpin: a GRIP proxy cannot tag events with their channel (`?channelField=1` is
// refused there), so tabs of one channel set share one untagged proxied stream, and tabs whose
// sets differ fall back to one shared stream per distinct set. A page's fetch is wrapped so the
// test knows which tabs lead (only a leader fetches).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Events } from '../../src/index.js';
import { type BrowserSession, launchBrowser } from '../helpers/browser.js';
import { ensurePushpin, freePorts, type PushpinInstance, startPushpin } from '../helpers/pushpin.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/sse-client.js';

type Lib = typeof import('../../src/index.js');

const root = fileURLToPath(new URL('../../', import.meta.url));
const clientFile = fileURLToPath(new URL('../../dist/client/index.js', import.meta.url));

// Connects with the channels of the page's query; records `n` events and states in window.__log,
// and the channels whose `p` (probe) events arrived in window.__probes.
const PAGE_SCRIPT = `
import { connect } from '/client.js';
const channels = new URLSearchParams(location.search).getAll('channel');
window.__log = [];
window.__probes = [];
window.__leader = false;
window.__client = connect('/events/', {
  channels,
  share: true,
  persist: false,
  retry: { minDelayMs: 50, maxDelayMs: 200 },
  fetch: (...args) => { window.__leader = true; return fetch(...args); },
  on: { n: (data) => window.__log.push(data), p: (data) => window.__probes.push(data) },
  onStateChange: (state) => window.__log.push('state:' + state),
  onError: (error) => window.__log.push('error:' + error.text),
});
`;

let browser: BrowserSession;
let lib: Lib;
let ev: Events;
let server: TestServer;
let pushpin: PushpinInstance;
/** Every /events/ request's query string that reached the origin. */
let requests: string[];
const pages: Page[] = [];

beforeAll(async () => {
  await ensurePushpin();
  if (!existsSync(clientFile)) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'pipe', timeout: 120_000 });
  }
  const specifier = 'express-eventstream';
  lib = (await import(specifier)) as Lib;
  browser = await launchBrowser();
}, 150_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && pushpin) console.error(pushpin.tailLogs());
  for (const page of pages.splice(0)) await page.close();
  await pushpin?.stop();
  await ev?.close();
  await server?.close();
});

afterAll(async () => {
  await browser?.close();
});

async function start(): Promise<void> {
  const [httpPort, publishPort] = await freePorts(2);
  ev = lib.events({ keepAlive: false, grip: `http://127.0.0.1:${publishPort}?key=changeme` });
  requests = [];
  const handler = lib.createHandler({ events: ev, retry: 50 });
  const client = readFileSync(clientFile, 'utf8');
  const send = (res: ServerResponse, type: string, body: string) => {
    res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' }).end(body);
  };
  server = await startServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/client.js') return send(res, 'text/javascript', client);
    if (url.pathname === '/page.js') return send(res, 'text/javascript', PAGE_SCRIPT);
    if (url.pathname === '/') {
      return send(res, 'text/html', '<!doctype html><script type="module" src="/page.js"></script>');
    }
    if (url.pathname !== '/events/') {
      res.writeHead(url.pathname === '/favicon.ico' ? 204 : 404).end();
      return;
    }
    if (!url.searchParams.has('channel', 'ready')) requests.push(url.search);
    handler(req, res);
  });
  pushpin = await startPushpin({
    originPort: server.port,
    httpPort,
    publishPort,
    readyPath: '/events/?channel=ready',
  });
}

async function openTab(channels: string[]): Promise<Page> {
  const page = await browser.newPage();
  pages.push(page);
  await page.goto(`${pushpin.baseUrl}/?${channels.map((c) => `channel=${c}`).join('&')}`);
  return page;
}

const logOf = async (page: Page) => (await page.evaluate('window.__log')) as unknown[];
const numbers = (log: unknown[]) => log.filter((e) => typeof e === 'number');
const datas = (log: unknown[]) =>
  log.filter((e): e is string => typeof e === 'string' && !/^(state|error):/.test(e));
const lastState = (log: unknown[]) => log.filter((e) => `${e}`.startsWith('state:')).at(-1);

async function leaders(tabs: Page[]): Promise<number> {
  let count = 0;
  for (const tab of tabs) if (await tab.evaluate('window.__leader')) count++;
  return count;
}

/**
 * Waits until every tab receives what is published now on each of its channels: a probe event on
 * every channel, published again until each tab has one per channel (a proxied stream is only
 * subscribed once Pushpin has read the hold instructions).
 */
async function probe(tabs: Array<[Page, string[]]>): Promise<void> {
  const channels = [...new Set(tabs.flatMap(([, c]) => c))];
  await until(
    async () => {
      for (const channel of channels) await ev.publish(channel, { event: 'p', data: channel });
      for (const [tab, mine] of tabs) {
        const got = (await tab.evaluate('window.__probes')) as string[];
        if (!mine.every((c) => got.includes(c))) return false;
      }
      return true;
    },
    30_000,
    'every tab subscribed through the proxy',
  );
}

describe('share: true behind a real Pushpin', () => {
  test('tabs on one channel set share one untagged proxied stream and get every event once, in order', async () => {
    await start();
    const tabs = [await openTab(['a']), await openTab(['a']), await openTab(['a'])];
    for (const tab of tabs)
      await until(async () => lastState(await logOf(tab)) === 'state:open', 30_000, 'every tab open');
    await probe(tabs.map((tab) => [tab, ['a']]));
    // One stream reached the origin through the proxy, untagged; one tab leads.
    expect(requests).toHaveLength(1);
    expect(new URLSearchParams(requests[0]).get('channelField')).toBeNull();
    expect(await leaders(tabs)).toBe(1);
    expect(ev.stats().connections).toBe(0);

    const sent: number[] = [];
    for (let i = 0; i < 30; i++) {
      sent.push(i);
      await ev.publish('a', { event: 'n', data: i });
    }
    for (const tab of tabs) {
      await until(async () => numbers(await logOf(tab)).length >= sent.length, 30_000, 'every event');
      expect(numbers(await logOf(tab))).toEqual(sent);
      expect((await logOf(tab)).filter((e) => `${e}`.startsWith('error:'))).toEqual([]);
    }
    expect(requests).toHaveLength(1);
    expect(browser.problems).toEqual([]);
  }, 180_000);

  test('tabs on different channel sets: the tagged stream is refused, each set gets its own shared stream, each tab exactly its events', async () => {
    await start();
    const a1 = await openTab(['a']);
    await until(async () => lastState(await logOf(a1)) === 'state:open', 30_000, 'the first tab open');
    const ab = await openTab(['b', 'a']);
    const a2 = await openTab(['a']);
    const b = await openTab(['b']);
    const tabs: Array<[Page, string[]]> = [
      [a1, ['a']],
      [ab, ['a', 'b']],
      [a2, ['a']],
      [b, ['b']],
    ];
    // The untagged stream of the first tab went through; the union, tagged, was refused.
    await until(
      () => requests.some((q) => new URLSearchParams(q).get('channelField') === '1'),
      30_000,
      'a tagged request',
    );
    for (const [tab] of tabs)
      await until(async () => lastState(await logOf(tab)) === 'state:open', 30_000, 'every tab open');
    await probe(tabs);
    // After the refusal, one untagged stream per distinct set: {a}, {a, b}, {b}.
    const untagged = requests
      .filter((q) => !new URLSearchParams(q).has('channelField'))
      .map((q) => new URLSearchParams(q).getAll('channel').sort().join(','));
    expect([...new Set(untagged)].sort()).toEqual(['a', 'a,b', 'b']);

    const sent: Record<string, string[]> = { a: [], b: [] };
    const all: string[] = [];
    for (let i = 0; i < 20; i++) {
      for (const channel of i % 3 ? ['a', 'b'] : ['b', 'a']) {
        const data = `${channel}${sent[channel]!.length}`;
        sent[channel]!.push(data);
        all.push(data);
        await ev.publish(channel, { event: 'n', data });
      }
    }
    for (const [tab, channels] of tabs) {
      // Every event of the tab's channels, in publish order, once; none of another channel.
      const want = all.filter((d) => channels.includes(d[0]!));
      await until(async () => datas(await logOf(tab)).length >= want.length, 30_000, 'its events');
      expect(datas(await logOf(tab))).toEqual(want);
      expect((await logOf(tab)).filter((e) => `${e}`.startsWith('error:'))).toEqual([]);
    }
    expect(browser.problems).toEqual([]);
  }, 180_000);
});
