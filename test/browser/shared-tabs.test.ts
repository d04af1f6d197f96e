// `share: true` of the browser client (the BUILT dist/client/index.js) in real headless Chromium:
// many pages of one browser context (one origin) share one connection. A page's fetch is wrapped
// so the test knows which tab leads (only the leader fetches).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Events } from '../../src/index.js';
import { type BrowserSession, launchBrowser } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/sse-client.js';

type Lib = typeof import('../../src/index.js');

const root = fileURLToPath(new URL('../../', import.meta.url));
const clientFile = fileURLToPath(new URL('../../dist/client/index.js', import.meta.url));

// Connects with the channels of the page's query; records events and states in window.__log.
const PAGE_SCRIPT = `
import { connect } from '/client.js';
const query = new URLSearchParams(location.search);
const channels = query.getAll('channel');
window.__log = [];
window.__leader = false;
window.__client = connect('/events/', {
  channels,
  share: true,
  persist: false,
  lastEventId: query.get('start') ?? undefined,
  retry: { minDelayMs: 50, maxDelayMs: 200 },
  fetch: (...args) => { window.__leader = true; return fetch(...args); },
  on: { n: (data) => window.__log.push(data) },
  onStateChange: (state) => window.__log.push('state:' + state),
});
`;

let browser: BrowserSession;
let lib: Lib;
let ev: Events;
let server: TestServer;
/** Every /events/ request's query string, and when it arrived. */
let requests: string[];
let requestTimes: number[];
const pages: Page[] = [];

beforeAll(async () => {
  if (!existsSync(clientFile)) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'pipe', timeout: 120_000 });
  }
  const specifier = 'express-eventstream';
  lib = (await import(specifier)) as Lib;
  browser = await launchBrowser();
}, 150_000);

afterEach(async () => {
  for (const page of pages.splice(0)) await page.close();
  await ev?.close();
  await server?.close();
});

afterAll(async () => {
  await browser?.close();
});

async function start(): Promise<void> {
  ev = lib.events({ keepAlive: false });
  requests = [];
  requestTimes = [];
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
    requests.push(url.search);
    requestTimes.push(Date.now());
    handler(req, res);
  });
}

/** A tab on `channels`, resuming after `start` (its own last id) when given. */
async function openTab(channels: string[], start?: string): Promise<Page> {
  const page = await browser.newPage();
  pages.push(page);
  const query = new URLSearchParams(channels.map((c): [string, string] => ['channel', c]));
  if (start) query.set('start', start);
  await page.goto(server.url(`/?${query}`));
  return page;
}

const logOf = async (page: Page) => (await page.evaluate('window.__log')) as unknown[];
const numbers = (log: unknown[]) => log.filter((e) => typeof e === 'number');
const datas = (log: unknown[]) =>
  log.filter((e): e is string => typeof e === 'string' && !e.startsWith('state:'));
/** The channels of a request's query, sorted. */
const channelsOf = (query: string) => new URLSearchParams(query).getAll('channel').sort().join(',');

async function leaderOf(tabs: Page[]): Promise<Page[]> {
  const leaders: Page[] = [];
  for (const tab of tabs) if (await tab.evaluate('window.__leader')) leaders.push(tab);
  return leaders;
}

describe('share: true in headless Chromium', () => {
  test('20 tabs, one stream; the leader closes mid-burst: another tab resumes, no tab loses or repeats an event', async () => {
    await start();
    const tabs: Page[] = [];
    for (let i = 0; i < 20; i++) tabs.push(await openTab(['a']));
    await until(
      async () => {
        for (const tab of tabs) if (!(await logOf(tab)).includes('state:open')) return false;
        return true;
      },
      20_000,
      'every tab open',
    );
    expect(requests).toHaveLength(1);
    expect(ev.stats().connections).toBe(1);
    const [leader, ...others] = tabs;
    expect(await leaderOf(tabs)).toEqual([leader]);

    let next = 0;
    const timer = setInterval(() => void ev.publish('a', { event: 'n', data: next++ }), 5);
    let failoverMs = 0;
    let closedAt = 0;
    try {
      await until(async () => numbers(await logOf(others[0]!)).length >= 50, 20_000, 'events flowing');
      closedAt = Date.now();
      const seenBefore = numbers(await logOf(others[0]!)).length;
      await leader!.close();
      pages.splice(pages.indexOf(leader!), 1);
      // Resumed: a follower has events it could only get from the new leader's stream.
      await until(() => requests.length === 2, 20_000, 'a new leader');
      await until(
        async () => numbers(await logOf(others[0]!)).length > seenBefore + 20,
        20_000,
        'events after the failover',
      );
      failoverMs = Date.now() - closedAt;
    } finally {
      clearInterval(timer);
    }
    const total = next;
    const expected = Array.from({ length: total }, (_, i) => i);
    for (const tab of others) {
      await until(async () => numbers(await logOf(tab)).length >= total, 20_000, 'every event in every tab');
      expect(numbers(await logOf(tab))).toEqual(expected);
    }
    expect(await leaderOf(others)).toHaveLength(1);
    expect(ev.stats().connections).toBe(1);
    // The new leader resumed from the group's position.
    expect(requests[1]).toMatch(/lastEventId=[0-9a-z]+-\d+/);
    // The figure of issue 24 (target < 1 s), printed with the machine's load: the close as the
    // test sees it (Playwright's close() resolving), the new leader's request reaching the
    // server, and 20 more events (100 ms of publishing) in a follower.
    const load = (await import('node:os')).loadavg()[0]!.toFixed(1);
    console.log(
      `tab failover: new leader's request ${requestTimes[1]! - closedAt} ms after the close, 20 events after it in a follower at ${failoverMs} ms (load ${load})`,
    );
    expect(failoverMs).toBeLessThan(5_000);
    expect(browser.problems).toEqual([]);
  }, 180_000);

  test('tabs with different channel sets share one stream: each gets exactly its own events; a tab closing releases its channels; the leader closing mid-burst loses and repeats nothing', async () => {
    await start();
    const leader = await openTab(['a']);
    const ab = await openTab(['b', 'a']);
    const a = await openTab(['a']);
    const c = await openTab(['c']);
    const tabs = [leader, ab, a, c];
    for (const tab of tabs)
      await until(async () => (await logOf(tab)).includes('state:open'), 20_000, 'open');
    expect(await leaderOf(tabs)).toEqual([leader]);
    await until(
      () => ev.stats().connections === 1 && channelsOf(requests.at(-1)!) === 'a,b,c',
      20_000,
      'one stream on every channel',
    );
    // Alone, the first tab's stream is untagged; once the sets differ, each event carries its channel.
    expect(new URLSearchParams(requests[0]).get('channelField')).toBeNull();
    expect(new URLSearchParams(requests.at(-1)).get('channelField')).toBe('1');

    const sent: Record<string, string[]> = { a: [], b: [], c: [] };
    const all: string[] = [];
    const publish = (channel: string) => {
      const data = `${channel}${sent[channel]!.length}`;
      sent[channel]!.push(data);
      all.push(data);
      return ev.publish(channel, { event: 'n', data });
    };
    await publish('a');
    await publish('b');
    await publish('c');
    await Promise.all([publish('a'), publish('c'), publish('b')]);
    const expectOwn = async (tab: Page, channels: string[]) => {
      // Every event of the tab's channels, in publish order, once.
      const order = (x: string) => all.indexOf(x);
      const want = channels.flatMap((ch) => sent[ch]!);
      await until(async () => datas(await logOf(tab)).length >= want.length, 20_000, 'its events');
      const got = datas(await logOf(tab));
      expect([...got].sort()).toEqual([...want].sort());
      for (const ch of channels) expect(got.filter((d) => d.startsWith(ch))).toEqual(sent[ch]);
      expect(got.map(order)).toEqual([...got.map(order)].sort((x, y) => x - y));
    };
    await expectOwn(leader, ['a']);
    await expectOwn(ab, ['a', 'b']);
    await expectOwn(a, ['a']);
    await expectOwn(c, ['c']);

    // The only tab on b closes: the leader reconnects without it, resuming.
    const before = requests.length;
    await ab.close();
    pages.splice(pages.indexOf(ab), 1);
    await until(
      () => requests.length > before && channelsOf(requests.at(-1)!) === 'a,c',
      20_000,
      'the leader reconnects with fewer channels',
    );
    expect(new URLSearchParams(requests.at(-1)!).get('lastEventId')).toMatch(/^[0-9a-z]+-\d+$/);
    await until(() => ev.stats().connections === 1, 20_000, 'one stream');
    expect(ev.stats().subscribers.b).toBeUndefined();

    // The leader closes in the middle of a burst on a and c.
    let bursts = 0;
    const timer = setInterval(() => {
      bursts++;
      void publish('a');
      void publish('c');
    }, 5);
    try {
      await until(
        async () => datas(await logOf(c)).length >= sent.c!.length - 10 && bursts > 30,
        20_000,
        'events flowing',
      );
      await leader.close();
      pages.splice(pages.indexOf(leader), 1);
      await until(
        async () => (await leaderOf([a, c])).length === 1 && requests.length > before + 1,
        20_000,
        'a new leader',
      );
      const seen = datas(await logOf(a)).length;
      await until(async () => datas(await logOf(a)).length > seen + 20, 20_000, 'events after the failover');
    } finally {
      clearInterval(timer);
    }
    await expectOwn(a, ['a']);
    await expectOwn(c, ['c']);
    expect(ev.stats().connections).toBe(1);
    expect(browser.problems).toEqual([]);
  }, 180_000);

  test('a tab joining with a channel the group lacks reads it from its own last id: its events once, in order; the other tab repeats nothing', async () => {
    await start();
    const a = await openTab(['a']);
    await until(async () => (await logOf(a)).includes('state:open'), 20_000, 'open');
    const publish = (channel: string, data: string) => ev.publish(channel, { event: 'n', data });
    await publish('a', 'a0');
    await until(async () => datas(await logOf(a)).includes('a0'), 20_000, 'a0');
    // The new tab's own position: before the events of c that no tab read, and before a1, the
    // group's position when it joins.
    const from = (await a.evaluate('window.__client.lastEventId')) as string;
    await publish('c', 'c1');
    await publish('c', 'c2');
    await publish('a', 'a1');
    await publish('c', 'c3');
    await until(async () => datas(await logOf(a)).includes('a1'), 20_000, 'a1');
    const c = await openTab(['c'], from);
    await until(
      () => ev.stats().connections === 1 && channelsOf(requests.at(-1)!) === 'a,c',
      20_000,
      'one stream on both channels',
    );
    // The leader reconnected from the new tab's position, not the group's.
    expect(new URLSearchParams(requests.at(-1)).get('lastEventId')).toBe(from);
    await until(async () => (await logOf(c)).includes('state:open'), 20_000, 'the new tab open');
    await publish('c', 'c4');
    await publish('a', 'a2');
    await until(async () => datas(await logOf(c)).includes('c4'), 20_000, 'c4');
    await until(async () => datas(await logOf(a)).includes('a2'), 20_000, 'a2');
    expect(datas(await logOf(c))).toEqual(['c1', 'c2', 'c3', 'c4']);
    expect(datas(await logOf(a))).toEqual(['a0', 'a1', 'a2']);
    expect(browser.problems).toEqual([]);
  }, 120_000);
});
