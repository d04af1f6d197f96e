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
const channels = new URLSearchParams(location.search).getAll('channel');
window.__log = [];
window.__leader = false;
window.__client = connect('/events/', {
  channels,
  share: true,
  persist: false,
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
/** Every /events/ request's query string. */
let requests: string[];
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
    handler(req, res);
  });
}

async function openTab(channels: string[]): Promise<Page> {
  const page = await browser.newPage();
  pages.push(page);
  await page.goto(server.url(`/?${channels.map((c) => `channel=${c}`).join('&')}`));
  return page;
}

const logOf = async (page: Page) => (await page.evaluate('window.__log')) as unknown[];
const numbers = (log: unknown[]) => log.filter((e) => typeof e === 'number');

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
    try {
      await until(async () => numbers(await logOf(others[0]!)).length >= 50, 20_000, 'events flowing');
      const closedAt = Date.now();
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
    console.log(`tab failover: ${failoverMs} ms from the leader's close to 20 events after it in a follower`);
    expect(failoverMs).toBeLessThan(5_000);
    expect(browser.problems).toEqual([]);
  }, 180_000);

  test('tabs with different channel sets: each gets its own events, and the last tab of a set takes its stream along', async () => {
    await start();
    const a1 = await openTab(['a']);
    const b = await openTab(['b', 'a']);
    const a2 = await openTab(['a']);
    const b2 = await openTab(['a', 'b']);
    for (const tab of [a1, b, a2, b2])
      await until(async () => (await logOf(tab)).includes('state:open'), 20_000, 'open');
    expect(ev.stats().connections).toBe(2);
    await ev.publish('a', { event: 'n', data: 1 });
    await ev.publish('b', { event: 'n', data: 2 });
    for (const tab of [b, b2])
      await until(async () => numbers(await logOf(tab)).length === 2, 20_000, 'both events');
    for (const tab of [a1, a2])
      await until(async () => numbers(await logOf(tab)).length === 1, 20_000, 'a event');
    await ev.publish('a', { event: 'n', data: 3 });
    for (const tab of [a1, a2])
      await until(async () => numbers(await logOf(tab)).length === 2, 20_000, 'a events');
    expect(numbers(await logOf(a1))).toEqual([1, 3]);
    expect(numbers(await logOf(a2))).toEqual([1, 3]);

    for (const tab of [b, b2]) {
      await tab.close();
      pages.splice(pages.indexOf(tab), 1);
    }
    await until(() => ev.stats().connections === 1, 20_000, 'the {a, b} stream to close');
    await ev.publish('a', { event: 'n', data: 4 });
    await until(async () => numbers(await logOf(a2)).length === 3, 20_000, 'a 4');
    expect(numbers(await logOf(a1))).toEqual([1, 3, 4]);
  }, 90_000);
});
