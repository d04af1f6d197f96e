// The browser client (`express-eventstream/client`, the BUILT dist/client/index.js) in real
// headless Chromium, against the built server handler. A node:http server serves a test page, the
// client module and the event stream. The page records everything the client reports in
// sessionStorage, which survives reloads of the tab, so one log spans several page loads.
// Every wait is on a condition with a bound; the only fixed wait-for-nothing is replaced by a
// control EventSource that does reconnect (see the stream-error test).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Events } from '../../src/index.js';
import { type BrowserSession, launchBrowser } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/sse-client.js';

type Lib = typeof import('../../src/index.js');

const root = fileURLToPath(new URL('../../', import.meta.url));
const clientFile = fileURLToPath(new URL('../../dist/client/index.js', import.meta.url));

/** A log entry written by the page (see PAGE_SCRIPT). */
type Entry =
  | { kind: 'event'; event: string; data: unknown; id: string | null; rawData: string }
  | { kind: 'open'; resumed: boolean; replayed: number }
  | { kind: 'reset'; channels: string[]; reason: string }
  | { kind: 'error'; condition: string; text: string }
  | { kind: 'state'; state: string; previous: string }
  | { kind: 'load' };

// The page: connect() with options taken from its own query string; every callback appends to
// the sessionStorage log synchronously, so nothing recorded is lost by a reload.
const PAGE_SCRIPT = `
import { connect } from '/client.js';
const params = new URLSearchParams(location.search);
const log = JSON.parse(sessionStorage.getItem('test-log') ?? '[]');
const record = (entry) => { log.push(entry); sessionStorage.setItem('test-log', JSON.stringify(log)); };
record({ kind: 'load' });
const on = {};
for (const name of params.getAll('on')) {
  on[name] = (data, d) => record({ kind: 'event', event: d.event, data, id: d.id ?? null, rawData: d.rawData });
}
const options = {
  channels: params.getAll('channel'),
  on,
  raw: params.getAll('raw'),
  onOpen: (info) => record({ kind: 'open', ...info }),
  onReset: (channels, reason) => record({ kind: 'reset', channels, reason }),
  onError: (e) => record({ kind: 'error', condition: e.condition, text: e.text }),
  onStateChange: (state, previous) => record({ kind: 'state', state, previous }),
  retry: { minDelayMs: 50, maxDelayMs: 200 },
};
if (params.get('persist') === '0') options.persist = false;
// Counts the client's writes of its last id (sessionStorage underneath).
window.__writes = [];
if (params.get('persist') === 'count') {
  options.persist = {
    key: 'counted',
    storage: {
      getItem: (key) => sessionStorage.getItem(key),
      setItem: (key, value) => { window.__writes.push(value); sessionStorage.setItem(key, value); },
    },
  };
}
if (params.has('start')) options.lastEventId = params.get('start');
if (params.has('transport')) options.transport = params.get('transport');
window.__client = connect(params.get('url') ?? '/events/', options);
`;

const PAGE_HTML = `<!doctype html><meta charset="utf-8"><title>client test</title>
<script type="module" src="/page.js"></script>`;

interface Harness {
  lib: Lib;
  ev: Events;
  server: TestServer;
  /** Every /events/ request: its query string, Last-Event-ID and Authorization headers. */
  requests: Array<{ search: string; lastEventIdHeader: string | undefined; authorization?: string }>;
  /** Open /events/ responses, to drop them from the server side. */
  streams: Set<ServerResponse>;
  /** Runs before the handler sees an /events/ request; may delay it. */
  before?: (url: URL, res: ServerResponse) => Promise<boolean | undefined> | boolean | undefined;
}

let browser: BrowserSession;
let lib: Lib;
const harnesses: Harness[] = [];
const pages: Page[] = [];

beforeAll(async () => {
  if (!existsSync(clientFile)) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'pipe', timeout: 120_000 });
  }
  // The built package, resolved by name like a user's server would.
  const specifier = 'express-eventstream';
  lib = (await import(specifier)) as Lib;
  browser = await launchBrowser();
}, 150_000);

afterEach(async () => {
  for (const page of pages.splice(0)) await page.close();
  for (const h of harnesses.splice(0)) {
    await h.ev.close();
    await h.server.close();
  }
});

afterAll(async () => {
  await browser?.close();
});

async function harness(
  eventsOptions: Parameters<Lib['events']>[0] = {},
  handlerOptions: { authorize?: (req: IncomingMessage) => boolean } = {},
): Promise<Harness> {
  const ev = lib.events({ keepAlive: false, ...eventsOptions });
  const handler = lib.createHandler({ events: ev, retry: 50, ...handlerOptions });
  const clientCode = readFileSync(clientFile, 'utf8');
  const h: Harness = {
    lib,
    ev,
    requests: [],
    streams: new Set(),
    server: undefined as unknown as TestServer,
  };
  const send = (res: ServerResponse, type: string, body: string) => {
    res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' });
    res.end(body);
  };
  h.server = await startServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/client.js') return send(res, 'text/javascript', clientCode);
    if (url.pathname === '/page.js') return send(res, 'text/javascript', PAGE_SCRIPT);
    if (url.pathname === '/') return send(res, 'text/html', PAGE_HTML);
    if (url.pathname === '/blank') return send(res, 'text/html', '<!doctype html><title>blank</title>');
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (url.pathname !== '/events/') {
      res.writeHead(404).end();
      return;
    }
    const header = req.headers['last-event-id'];
    h.requests.push({
      search: url.search,
      lastEventIdHeader: Array.isArray(header) ? header[0] : header,
      authorization: req.headers.authorization,
    });
    h.streams.add(res);
    res.on('close', () => h.streams.delete(res));
    void (async () => {
      if ((await h.before?.(url, res)) === true) return;
      handler(req, res);
    })();
  });
  harnesses.push(h);
  return h;
}

/** The transport of the describe block running (each test runs over both). */
let transport = 'eventsource';

async function openPage(h: Harness, query: string): Promise<Page> {
  const page = await browser.newPage();
  pages.push(page);
  await page.goto(h.server.url(`/?${query}&transport=${transport}`));
  return page;
}

async function logOf(page: Page): Promise<Entry[]> {
  return (await page.evaluate("JSON.parse(sessionStorage.getItem('test-log') ?? '[]')")) as Entry[];
}

async function waitForLog(page: Page, what: string, done: (log: Entry[]) => boolean, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const log = await logOf(page);
    if (done(log)) return log;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; log: ${JSON.stringify(log)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const states = (log: Entry[]) => log.flatMap((e) => (e.kind === 'state' ? [e.state] : []));
const events = (log: Entry[], name?: string) =>
  log.filter(
    (e): e is Extract<Entry, { kind: 'event' }> => e.kind === 'event' && (!name || e.event === name),
  );
const opened = (log: Entry[]) => log.filter((e) => e.kind === 'open').length;

describe.each(['eventsource', 'fetch'])(
  'express-eventstream/client in headless Chromium (%s transport)',
  (name) => {
    beforeEach(() => {
      transport = name;
    });

    test('typed handlers get parsed JSON, raw text and unnamed messages; keep-alives never reach them', async () => {
      const h = await harness({ keepAlive: 40 });
      // The browser's problems so far belong to earlier tests (their refusals, as network lines).
      const earlier = browser.problems.length;
      const page = await openPage(h, 'channel=a&on=time&on=text&on=message&on=empty&raw=text');
      await waitForLog(page, 'open', (log) => opened(log) === 1);
      await h.ev.publish('a', { event: 'time', data: { value: '2026-01-01T00:00:00.000Z' } });
      await h.ev.publish('a', { event: 'text', data: 'line 1\nline 2', raw: true });
      await h.ev.publish('a', { data: [1, 'two', null] });
      await h.ev.publish('a', { event: 'empty' });
      await h.ev.publish('a', { event: 'unhandled', data: 1 });
      const log = await waitForLog(page, 'four events', (l) => events(l).length === 4);
      expect(events(log).map(({ event, data }) => ({ event, data }))).toEqual([
        { event: 'time', data: { value: '2026-01-01T00:00:00.000Z' } },
        { event: 'text', data: 'line 1\nline 2' },
        { event: 'message', data: [1, 'two', null] },
        { event: 'empty', data: undefined },
      ]);
      for (const e of events(log)) expect(e.id).toMatch(/^[0-9a-z]+-\d+$/);
      expect(events(log)[0]!.rawData).toBe('{"value":"2026-01-01T00:00:00.000Z"}');

      // Keep-alives (every 40 ms here) do flow on this stream, as a plain EventSource shows, yet
      // the client neither hands them to anyone nor accepts a handler for them.
      const keepAlives = await page.evaluate(`new Promise((resolve) => {
      const es = new EventSource('/events/?channel=a');
      let count = 0;
      es.addEventListener('keep-alive', () => { if (++count === 3) { es.close(); resolve(count); } });
    })`);
      expect(keepAlives).toBe(3);
      const refused = await page.evaluate(`(() => {
      try { window.__client.on('keep-alive', () => {}); return 'accepted'; } catch (e) { return e.name; }
    })()`);
      expect(refused).toBe('TypeError');
      const after = await logOf(page);
      expect(events(after)).toHaveLength(4);
      expect(states(after)).toEqual(['open']);
      // Chromium logs a fetch's refused or cut responses as "Failed to load resource"; an earlier
      // test's can arrive late on a loaded machine. Script errors and other console errors count.
      const network = /^console: Failed to load resource/;
      expect(browser.problems.slice(earlier).filter((p) => !network.test(p))).toEqual([]);
    });

    test('stream-error: onError gets the reason, state becomes error, and no request follows', async () => {
      const h = await harness();
      const page = await openPage(h, 'url=/events/%3Fwho%3Dclient&channel=a%2Cb');
      const log = await waitForLog(page, 'the error', (l) => l.some((e) => e.kind === 'error'));
      const error = log.find((e) => e.kind === 'error');
      expect(error).toMatchObject({ condition: 'bad-request' });
      expect(error && 'text' in error ? error.text : '').toContain('repeat the parameter');
      expect(states(log)).toEqual(['error']);
      expect(await page.evaluate('[window.__client.state, window.__client.error.condition]')).toEqual([
        'error',
        'bad-request',
      ]);

      // Control: a plain EventSource on the same URL, opened after the client stopped, does come
      // back (Last-Event-ID: error, answered 204) within the server's 50 ms retry. By then the
      // client has had as long to reconnect, and it has not.
      await page.evaluate(`window.__raw = new EventSource('/events/?who=raw&channel=a%2Cb')`);
      await until(
        () => h.requests.filter((r) => r.search.includes('who=raw')).length === 2,
        10_000,
        'the control reconnecting',
      );
      expect(h.requests.filter((r) => r.search.includes('who=raw'))[1]!.lastEventIdHeader).toBe('error');
      expect(h.requests.filter((r) => r.search.includes('who=client'))).toHaveLength(1);
      expect(await page.evaluate('window.__client.state')).toBe('error');
    });

    test('stream-error unavailable: the client stays reconnecting, and resumes from its last id once the history is back', async () => {
      // A history whose reads fail while `down` (appends keep working, so an event is stored meanwhile).
      const memory = new lib.MemoryStore();
      let down = false;
      const failing = () => Promise.reject(new Error('history down'));
      const history = {
        epoch: () => (down ? failing() : memory.epoch()),
        append: (items: Parameters<typeof memory.append>[0]) => memory.append(items),
        readAfter: (...args: Parameters<typeof memory.readAfter>) =>
          down ? failing() : memory.readAfter(...args),
      };
      const h = await harness({ history });
      h.ev.on('error', () => {});
      const page = await openPage(h, 'channel=a&on=n');
      await waitForLog(page, 'open', (log) => opened(log) === 1);
      await h.ev.publish('a', { event: 'n', data: 1 });
      const first = await waitForLog(page, 'n 1', (log) => events(log).length === 1);
      down = true;
      for (const res of h.streams) res.destroy();
      // Two reconnects answered `unavailable` (the handler's retry is 50 ms), then the history is back.
      await until(() => h.requests.length >= 3, 10_000, 'two reconnects while the history is down');
      await h.ev.publish('a', { event: 'n', data: 2 });
      down = false;
      const log = await waitForLog(page, 'n 2', (l) => events(l).length === 2);
      expect(events(log).map((e) => e.data)).toEqual([1, 2]);
      expect(log.some((e) => e.kind === 'error')).toBe(false);
      expect(states(log)).not.toContain('error');
      // Every reconnect carried the position of the last event received.
      const lastId = events(first)[0]!.id;
      expect(h.requests.slice(1).every((r) => r.lastEventIdHeader === lastId)).toBe(true);
      expect(await page.evaluate('window.__client.state')).toBe('open');
    });

    test('stream-reset calls onReset(channels, reason) and live events follow', async () => {
      const h = await harness({ history: { maxEventsPerChannel: 2 } });
      const page = await openPage(h, 'channel=a&channel=b&on=n');
      await waitForLog(page, 'open', (log) => opened(log) === 1);
      await h.ev.publish('a', { event: 'n', data: 0 });
      await waitForLog(page, 'n 0', (log) => events(log).length === 1);

      // Away while 'a' gets more events than its history keeps, and 'b' one it keeps.
      await page.goto('about:blank');
      await until(() => h.ev.stats().connections === 0, 10_000, 'the stream to close');
      for (let n = 1; n <= 4; n++) await h.ev.publish('a', { event: 'n', data: n });
      await h.ev.publish('b', { event: 'n', data: 'b1' });
      await page.goto(h.server.url(`/?channel=a&channel=b&on=n&transport=${transport}`));
      const log = await waitForLog(page, 'the reset', (l) => l.some((e) => e.kind === 'reset'));
      expect(log.find((e) => e.kind === 'reset')).toEqual({
        kind: 'reset',
        channels: ['a'],
        reason: 'expired',
      });
      // The channel whose history still reaches back is replayed.
      expect(log.filter((e) => e.kind === 'open').at(-1)).toEqual({
        kind: 'open',
        resumed: true,
        replayed: 1,
      });
      expect(events(log).map((e) => e.data)).toEqual([0, 'b1']);
      expect(h.requests.at(-1)!.search).toMatch(/[?&]lastEventId=[0-9a-z]+-\d+/);

      await h.ev.publish('a', { event: 'n', data: 5 });
      const live = await waitForLog(page, 'live n 5', (l) => events(l).length === 3);
      expect(events(live).map((e) => e.data)).toEqual([0, 'b1', 5]);

      // An id the server cannot place, given as the starting point.
      const other = await openPage(h, 'channel=a&on=n&start=not-an-id&persist=0');
      const reset = await waitForLog(other, 'the reset', (l) => l.some((e) => e.kind === 'reset'));
      expect(reset.find((e) => e.kind === 'reset')).toEqual({
        kind: 'reset',
        channels: ['a'],
        reason: 'malformed-id',
      });
    });

    test('a page reload mid-stream resumes from the history: nothing lost, nothing repeated', async () => {
      const h = await harness();
      let next = 0;
      const publish = () => h.ev.publish('feed', { event: 'n', data: next++ });
      // A resuming request waits until the old page's stream is gone, then a few events are
      // published that no page can have seen: they must come back as replayed events.
      const gap: number[] = [];
      h.before = async (url) => {
        if (!url.searchParams.has('lastEventId')) return undefined;
        await until(() => h.ev.stats().connections === 0, 5_000, 'the old stream to close');
        for (let i = 0; i < 3; i++) {
          gap.push(next);
          await publish();
        }
        return undefined;
      };
      const page = await openPage(h, 'channel=feed&on=n');
      await waitForLog(page, 'open', (log) => opened(log) === 1);
      // A steady publisher, so events are also in flight while the page unloads and reloads.
      const timer = setInterval(() => void publish(), 20);
      try {
        for (let reload = 1; reload <= 3; reload++) {
          const seen = next;
          await waitForLog(
            page,
            `events before reload ${reload}`,
            (l) => events(l).length > 0 && next > seen + 5,
          );
          await page.reload();
          await waitForLog(page, `open after reload ${reload}`, (l) => opened(l) === reload + 1);
        }
      } finally {
        clearInterval(timer);
      }
      const total = next;
      const log = await waitForLog(page, `all ${total} events`, (l) => events(l).length >= total);
      expect(events(log).map((e) => e.data)).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(log.filter((e) => e.kind === 'load')).toHaveLength(4);
      // Each reload resumed with the last id in the query (a new EventSource has no header) and
      // got the gap events replayed.
      const resumes = h.requests.slice(1);
      expect(resumes).toHaveLength(3);
      for (const r of resumes) {
        expect(r.search).toMatch(/[?&]lastEventId=[0-9a-z]+-\d+/);
        expect(r.lastEventIdHeader).toBeUndefined();
      }
      const opens = log.filter((e): e is Extract<Entry, { kind: 'open' }> => e.kind === 'open');
      expect(opens[0]).toEqual({ kind: 'open', resumed: false, replayed: 0 });
      for (const o of opens.slice(1)) {
        expect(o.resumed).toBe(true);
        expect(o.replayed).toBeGreaterThanOrEqual(3);
      }
      expect(gap).toHaveLength(9);
      expect(log.some((e) => e.kind === 'reset')).toBe(false);
    });

    test('persist: false: a reload starts a fresh stream', async () => {
      const h = await harness();
      const page = await openPage(h, 'channel=a&on=n&persist=0');
      await waitForLog(page, 'open', (log) => opened(log) === 1);
      await h.ev.publish('a', { event: 'n', data: 1 });
      await waitForLog(page, 'n 1', (log) => events(log).length === 1);
      await page.reload();
      const log = await waitForLog(page, 'open again', (l) => opened(l) === 2);
      expect(log.filter((e) => e.kind === 'open')).toEqual([
        { kind: 'open', resumed: false, replayed: 0 },
        { kind: 'open', resumed: false, replayed: 0 },
      ]);
      expect(h.requests.map((r) => r.search)).toEqual(['?channel=a', '?channel=a']);
    });

    test('state: connecting, open, reconnecting after a drop, open again with nothing lost, closed', async () => {
      const h = await harness();
      const page = await openPage(h, 'channel=a&on=n');
      await waitForLog(page, 'open', (log) => opened(log) === 1);
      await h.ev.publish('a', { event: 'n', data: 1 });
      await waitForLog(page, 'n 1', (log) => events(log).length === 1);

      // The server drops the connection; the browser's reconnection is held until an event has
      // been published while no connection was open.
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      h.before = async () => {
        await held;
        return undefined;
      };
      for (const res of h.streams) res.destroy();
      await until(() => h.requests.length === 2, 10_000, 'the reconnection');
      expect(h.ev.stats().connections).toBe(0);
      await h.ev.publish('a', { event: 'n', data: 2 });
      release();
      const log = await waitForLog(page, 'n 2', (l) => events(l).length === 2);
      expect(events(log).map((e) => e.data)).toEqual([1, 2]);
      expect(states(log)).toEqual(['open', 'reconnecting', 'open']);
      expect(log.filter((e) => e.kind === 'state')[0]).toEqual({
        kind: 'state',
        state: 'open',
        previous: 'connecting',
      });
      // The browser's own reconnection carries the id in the header.
      expect(h.requests[1]!.lastEventIdHeader).toMatch(/^[0-9a-z]+-\d+$/);

      await page.evaluate('window.__client.close()');
      expect(states(await logOf(page))).toEqual(['open', 'reconnecting', 'open', 'closed']);
      await until(() => h.ev.stats().connections === 0, 10_000, 'the stream to close');
      expect(await page.evaluate('window.__client.state')).toBe('closed');
    });

    test('a refused connection (HTTP 503) is retried with backoff and resumes', async () => {
      const h = await harness();
      let refusals = 2;
      h.before = (_url, res) => {
        if (refusals === 0) return undefined;
        refusals--;
        res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
        return true;
      };
      const page = await openPage(h, 'channel=a&on=n');
      const log = await waitForLog(page, 'open', (l) => opened(l) === 1);
      expect(states(log)).toEqual(['reconnecting', 'open']);
      expect(h.requests).toHaveLength(3);
      await h.ev.publish('a', { event: 'n', data: 1 });
      await waitForLog(page, 'n 1', (l) => events(l).length === 1);
    });

    // Issue 19, defect 8: a stored id the server can never resume from.
    test.each([
      ['error', 'error'],
      ['a 20,000-character id', '7'.repeat(20_000)],
    ])('a stored %s is dropped: the client opens a fresh stream and says so with onReset', async (_, bad) => {
      const h = await harness();
      const page = await openPage(h, 'channel=a&on=n');
      await waitForLog(page, 'open', (log) => opened(log) === 1);
      // Once the client wrote its position (stream-open's id), something else stores `bad` there.
      const key = `'express-eventstream:last-event-id:' + new URL('/events/', location.href).href + ' ["a"]'`;
      await page.waitForFunction(`sessionStorage.getItem(${key}) === window.__client.lastEventId`, null, {
        timeout: 5_000,
      });
      await page.evaluate(`sessionStorage.setItem(${key}, ${JSON.stringify(bad)})`);
      await page.reload();
      const log = await waitForLog(page, 'a second open', (l) => opened(l) === 2, 5_000);
      expect(log.find((e) => e.kind === 'reset')).toEqual({
        kind: 'reset',
        channels: ['a'],
        reason: 'malformed-id',
      });
      expect(log.filter((e) => e.kind === 'open').at(-1)).toEqual({
        kind: 'open',
        resumed: false,
        replayed: 0,
      });
      expect(h.requests.map((r) => r.search)).toEqual(['?channel=a', '?channel=a']);
      await h.ev.publish('a', { event: 'n', data: 1 });
      await waitForLog(page, 'n 1', (l) => events(l).length === 1);
    });

    test('a resume the server keeps refusing (431) is dropped after 3 tries: onReset refused-id, then a fresh stream', async () => {
      const h = await harness();
      h.before = (url, res) => {
        if (!url.searchParams.has('lastEventId')) return undefined;
        res.writeHead(431, { 'content-type': 'text/plain' }).end('Request Header Fields Too Large');
        return true;
      };
      const page = await openPage(h, 'channel=a&on=n');
      await waitForLog(page, 'open', (log) => opened(log) === 1);
      await h.ev.publish('a', { event: 'n', data: 1 });
      await waitForLog(page, 'n 1', (l) => events(l).length === 1);
      await page.reload();
      const log = await waitForLog(page, 'a second open', (l) => opened(l) === 2, 5_000);
      expect(log.filter((e) => e.kind === 'reset')).toEqual([
        { kind: 'reset', channels: ['a'], reason: 'refused-id' },
      ]);
      const searches = h.requests.map((r) => r.search);
      expect(searches.slice(1, 4).every((q) => /lastEventId=[0-9a-z]+-\d+/.test(q))).toBe(true);
      expect(searches.slice(4)).toEqual(['?channel=a']);
    });

    test('the last id is written to storage once per burst of events, and a reload right after resumes from it', async () => {
      const h = await harness();
      const page = await openPage(h, 'channel=a&on=n&persist=count');
      await waitForLog(page, 'open', (log) => opened(log) === 1);
      // 200 events in one batch: the client handles them one task each.
      await Promise.all(Array.from({ length: 200 }, (_, n) => h.ev.publish('a', { event: 'n', data: n })));
      await waitForLog(page, '200 events', (l) => events(l).length === 200);
      const last = await page.evaluate('window.__client.lastEventId');
      const writes = async () => (await page.evaluate('window.__writes')) as string[];
      // Written within the client's short delay, not once per event.
      const deadline = Date.now() + 5_000;
      while ((await writes()).at(-1) !== last) {
        if (Date.now() > deadline)
          throw new Error(`the last id was not written: ${JSON.stringify(await writes())}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect((await writes()).at(-1)).toBe(last);
      expect((await writes()).length).toBeLessThan(20);

      // Events, then a reload at once: the id of the last one handled is what the reload resumes from.
      await h.ev.publish('a', { event: 'n', data: 200 });
      const seen = await waitForLog(page, 'n 200', (l) => events(l).length === 201);
      const lastSeen = events(seen).at(-1)!.id;
      await page.reload();
      await waitForLog(page, 'open after the reload', (l) => opened(l) === 2);
      expect(h.requests.at(-1)!.search).toBe(`?channel=a&lastEventId=${lastSeen}`);
    });
  },
);

describe('the fetch transport in headless Chromium', () => {
  /** Connects in a blank page with `options` (a JS object literal); the page records into window.__log. */
  async function connectIn(h: Harness, options: string): Promise<Page> {
    const page = await browser.newPage();
    pages.push(page);
    await page.goto(h.server.url('/blank'));
    await page.evaluate(`(async () => {
      const { connect } = await import('/client.js');
      window.__log = [];
      const log = (entry) => window.__log.push(entry);
      window.__client = connect('/events/', {
        channels: ['a'],
        persist: false,
        retry: { minDelayMs: 50, maxDelayMs: 200 },
        on: { n: (data) => log({ kind: 'event', data }) },
        onOpen: () => log({ kind: 'open' }),
        onError: (e) => log({ kind: 'error', ...e }),
        onStateChange: (state) => log({ kind: 'state', state }),
        ...${options},
      });
    })()`);
    return page;
  }
  type Log = Array<{
    kind: string;
    data?: unknown;
    state?: string;
    condition?: string;
    status?: number;
    text?: string;
  }>;
  const logIn = async (page: Page) => (await page.evaluate('window.__log')) as Log;
  async function waitIn(page: Page, what: string, done: (log: Log) => boolean): Promise<Log> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const log = await logIn(page);
      if (done(log)) return log;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; log: ${JSON.stringify(log)}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  test('a bearer token reaches authorize, a function gives each reconnection a fresh one, a wrong one is refused', async () => {
    const h = await harness(
      {},
      { authorize: (req) => /^Bearer good-\d$/.test(req.headers.authorization ?? '') },
    );
    const page = await connectIn(
      h,
      `{ headers: () => ({ authorization: 'Bearer good-' + (window.__token = (window.__token ?? 0) + 1) }) }`,
    );
    await waitIn(page, 'open', (l) => l.some((e) => e.kind === 'open'));
    await h.ev.publish('a', { event: 'n', data: 1 });
    await waitIn(page, 'n 1', (l) => l.some((e) => e.kind === 'event'));
    for (const res of h.streams) res.destroy();
    await until(() => h.requests.length === 2, 10_000, 'the reconnection');
    await h.ev.publish('a', { event: 'n', data: 2 });
    const log = await waitIn(page, 'n 2', (l) => l.filter((e) => e.kind === 'event').length === 2);
    expect(log.filter((e) => e.kind === 'event').map((e) => e.data)).toEqual([1, 2]);
    expect(h.requests.map((r) => r.authorization)).toEqual(['Bearer good-1', 'Bearer good-2']);
    // The transport's own reconnection sends the position as EventSource would.
    expect(h.requests[1]!.lastEventIdHeader).toMatch(/^[0-9a-z]+-\d+$/);

    const refused = await connectIn(h, `{ headers: { authorization: 'Bearer bad' } }`);
    const error = await waitIn(refused, 'the refusal', (l) => l.some((e) => e.kind === 'error'));
    expect(error.find((e) => e.kind === 'error')).toMatchObject({ condition: 'forbidden' });
  });

  test('an HTTP refusal reaches onError with its status and body; a 503 is retried; abort closes', async () => {
    const h = await harness();
    let busy = 1;
    h.before = (_url, res) => {
      const auth = res.req.headers.authorization;
      if (auth === 'Bearer expired') {
        res.writeHead(401, { 'content-type': 'text/plain' }).end('token expired');
        return true;
      }
      if (busy-- > 0) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
        return true;
      }
      return undefined;
    };
    const page = await connectIn(h, `{ headers: { authorization: 'Bearer expired' } }`);
    const log = await waitIn(page, 'the refusal', (l) => l.some((e) => e.kind === 'error'));
    expect(log.find((e) => e.kind === 'error')).toEqual({
      kind: 'error',
      condition: 'connection-failed',
      status: 401,
      text: 'token expired',
    });
    expect(await page.evaluate('window.__client.state')).toBe('error');
    expect(h.requests).toHaveLength(1);

    const aborted = await connectIn(
      h,
      `{ transport: 'fetch', signal: (window.__abort = new AbortController()).signal }`,
    );
    await waitIn(aborted, 'open after a 503', (l) => l.some((e) => e.kind === 'open'));
    expect((await logIn(aborted)).filter((e) => e.kind === 'state').map((e) => e.state)).toEqual([
      'reconnecting',
      'open',
    ]);
    await until(() => h.ev.stats().connections === 1, 10_000, 'one stream');
    await aborted.evaluate('window.__abort.abort()');
    await until(() => h.ev.stats().connections === 0, 10_000, 'the stream to close');
    expect(await aborted.evaluate('window.__client.state')).toBe('closed');
  });
});
