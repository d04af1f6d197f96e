import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStreamError } from '../../src/base/errors.js';
import type { EncodedEvent, EventSink } from '../../src/base/types.js';
import {
  createGripSink,
  GripConfigError,
  GripPublishError,
  type GripRetryOptions,
  resolveGrip,
} from '../../src/grip/index.js';

interface Recorded {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Reply = { status: number; body?: string; headers?: Record<string, string> } | 'hang' | 'reset';

interface FakeProxy {
  port: number;
  requests: Recorded[];
  /** Replies for the next requests, in order; afterwards 200 "Published". */
  replies: Reply[];
  /** Resolves once `n` requests have arrived. */
  waitForRequests(n: number): Promise<void>;
  close(): Promise<void>;
}

const open: Array<{ close(): Promise<void> | void }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function fakeProxy(): Promise<FakeProxy> {
  const requests: Recorded[] = [];
  const replies: Reply[] = [];
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body });
      for (const w of [...waiters]) w();
      const reply = replies.shift() ?? { status: 200, body: 'Published\n' };
      if (reply === 'hang') return;
      if (reply === 'reset') {
        req.socket.destroy();
        return;
      }
      res.writeHead(reply.status, { 'Content-Type': 'text/plain', ...reply.headers });
      res.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: FakeProxy = {
    port: (server.address() as AddressInfo).port,
    requests,
    replies,
    waitForRequests(n) {
      if (requests.length >= n) return Promise.resolve();
      return new Promise((resolve) => {
        const check = () => {
          if (requests.length >= n) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  open.push(proxy);
  return proxy;
}

function ev(channel: string, text: string, id?: string): EncodedEvent {
  return { channel, id, event: undefined, text, bytes: Buffer.from(text) };
}

const FAST: GripRetryOptions = { retries: 3, minDelayMs: 1, maxDelayMs: 5 };

function sink(grip: Parameters<typeof resolveGrip>[0], retry = FAST, prefix = 'events-'): EventSink {
  const settings = resolveGrip(grip);
  if (settings === undefined) throw new Error('no settings');
  const s = createGripSink(settings, { prefix, retry });
  open.push({ close: () => s.close?.() });
  return s;
}

async function rejection(p: Promise<unknown>): Promise<GripPublishError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GripPublishError);
  expect(err).toBeInstanceOf(EventStreamError);
  expect((err as GripPublishError).code).toBe('ERR_GRIP_PUBLISH');
  return err as GripPublishError;
}

describe('createGripSink: requests', () => {
  it('sends one POST /publish/ per batch with every event in order, prefix applied', async () => {
    const proxy = await fakeProxy();
    const s = sink(`http://127.0.0.1:${proxy.port}`);
    await s.publish([
      ev('clock', 'event: time\ndata: 1\n\n', '1'),
      ev('messages', 'data: "hi"\n\n'),
      ev('clock', 'data: x\n\n', ''),
    ]);
    expect(proxy.requests).toHaveLength(1);
    const [r] = proxy.requests;
    expect(r?.url).toBe('/publish/');
    expect(r?.headers['content-type']).toBe('application/json');
    expect(r?.headers.authorization).toBeUndefined();
    expect(JSON.parse(r?.body ?? '')).toEqual({
      items: [
        {
          channel: 'events-clock',
          id: '1',
          formats: { 'http-stream': { content: 'event: time\ndata: 1\n\n' } },
        },
        { channel: 'events-messages', formats: { 'http-stream': { content: 'data: "hi"\n\n' } } },
        { channel: 'events-clock', formats: { 'http-stream': { content: 'data: x\n\n' } } },
      ],
    });
  });

  it("reliable mode adds each item's prev-id; otherwise it is left out", async () => {
    const proxy = await fakeProxy();
    const settings = resolveGrip(`http://127.0.0.1:${proxy.port}`)!;
    const evs: EncodedEvent[] = [
      { ...ev('c', 'id: e-2\ndata: 2%\n\n', 'e-2'), prevId: 'e-1' },
      { ...ev('c', 'data: 3\n\n', 'e-3'), prevId: 'e-2' },
    ];
    for (const reliable of [true, false]) {
      const s = createGripSink(settings, { prefix: 'p-', retry: FAST, reliable });
      open.push({ close: () => s.close?.() });
      await s.publish(evs);
    }
    const items = proxy.requests.map(
      (r) => (JSON.parse(r.body) as { items: Array<Record<string, unknown>> }).items,
    );
    expect(items[0]?.map((i) => [i.id, i['prev-id']])).toEqual([
      ['e-2', 'e-1'],
      ['e-3', 'e-2'],
    ]);
    expect(items[1]?.every((i) => !('prev-id' in i))).toBe(true);
    // Reliable: the build-id filter puts each connection's own id in place of %I (every other %
    // doubled); without it, the text as direct clients get it.
    expect(items[0]?.[0]?.formats).toEqual({
      'http-stream': { content: 'id: %I\ndata: 2%%\n\n', 'content-filters': ['build-id'] },
    });
    expect(items[1]?.[0]?.formats).toEqual({ 'http-stream': { content: 'id: e-2\ndata: 2%\n\n' } });
  });

  it('does nothing for an empty batch', async () => {
    const proxy = await fakeProxy();
    await sink(`http://127.0.0.1:${proxy.port}`).publish([]);
    expect(proxy.requests).toHaveLength(0);
  });

  it('auth: key without iss → literal Bearer; iss + key → HS256 JWT; user:pass → Basic', async () => {
    const proxy = await fakeProxy();
    await sink(`http://127.0.0.1:${proxy.port}?key=tok%2Ben`).publish([ev('a', 'data: 1\n\n')]);
    expect(proxy.requests[0]?.headers.authorization).toBe('Bearer tok+en');

    await sink(`http://127.0.0.1:${proxy.port}?iss=realm&key=secret`).publish([ev('a', 'data: 1\n\n')]);
    const bearer = proxy.requests[1]?.headers.authorization ?? '';
    expect(bearer).toMatch(/^Bearer /);
    const { payload, protectedHeader } = await jwtVerify(
      bearer.slice(7),
      new TextEncoder().encode('secret'),
      {
        issuer: 'realm',
      },
    );
    expect(protectedHeader.alg).toBe('HS256');
    const ttl = (payload.exp ?? 0) - Date.now() / 1000;
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);

    await sink(`http://us:pw@127.0.0.1:${proxy.port}/`).publish([ev('a', 'data: 1\n\n')]);
    expect(proxy.requests[2]?.headers.authorization).toBe(`Basic ${Buffer.from('us:pw').toString('base64')}`);
  });

  it('publishes to every proxy concurrently and resolves when all answered 2xx', async () => {
    const a = await fakeProxy();
    const b = await fakeProxy();
    b.replies.push('hang');
    const s = sink([`http://127.0.0.1:${a.port}?key=x`, { controlUri: `http://127.0.0.1:${b.port}` }], {
      ...FAST,
      retries: 0,
    });
    let settled = false;
    const p = s.publish([ev('c', 'data: 1\n\n')]).finally(() => {
      settled = true;
    });
    await Promise.all([a.waitForRequests(1), b.waitForRequests(1)]);
    expect(settled).toBe(false); // b has not answered yet
    await s.close?.();
    await rejection(p);
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(1);
  });

  it('splits a batch larger than ~900 kB into several ordered requests', async () => {
    const proxy = await fakeProxy();
    const big = `data: ${'x'.repeat(300_000)}\n\n`;
    await sink(`http://127.0.0.1:${proxy.port}`).publish([1, 2, 3, 4, 5].map((n) => ev('c', big, String(n))));
    expect(proxy.requests.length).toBeGreaterThan(1);
    const ids = proxy.requests.flatMap((r) =>
      (JSON.parse(r.body) as { items: Array<{ id: string }> }).items.map((i) => i.id),
    );
    expect(ids).toEqual(['1', '2', '3', '4', '5']);
    for (const r of proxy.requests) expect(Buffer.byteLength(r.body)).toBeLessThan(1_000_000);
  });
});

describe('createGripSink: failures and retries', () => {
  it('retries 5xx and 429, then succeeds', async () => {
    const proxy = await fakeProxy();
    proxy.replies.push({ status: 503, body: 'busy' }, { status: 429 }, { status: 500 });
    await sink(`http://127.0.0.1:${proxy.port}`).publish([ev('c', 'data: 1\n\n')]);
    expect(proxy.requests).toHaveLength(4);
    expect(new Set(proxy.requests.map((r) => r.body)).size).toBe(1);
  });

  it('retries a dropped connection', async () => {
    const proxy = await fakeProxy();
    proxy.replies.push('reset');
    await sink(`http://127.0.0.1:${proxy.port}`).publish([ev('c', 'data: 1\n\n')]);
    expect(proxy.requests).toHaveLength(2);
  });

  it('does not retry other 4xx; rejects with url, status and body', async () => {
    const proxy = await fakeProxy();
    proxy.replies.push({
      status: 400,
      body: "Invalid format: publish item object does not contain 'channel'",
    });
    const err = await rejection(
      sink(`http://127.0.0.1:${proxy.port}?key=s3cret`).publish([ev('c', 'data: 1\n\n')]),
    );
    expect(proxy.requests).toHaveLength(1);
    expect(err.url).toBe(`http://127.0.0.1:${proxy.port}/publish/`);
    expect(err.status).toBe(400);
    expect(err.body).toContain('Invalid format');
    expect(err.attempts).toBe(1);
    expect(err.message).toContain('HTTP 400');
    expect(err.message).not.toContain('s3cret');
  });

  it('gives up after the configured retries with the last status', async () => {
    const proxy = await fakeProxy();
    for (let i = 0; i < 5; i++) proxy.replies.push({ status: 502, body: 'bad gateway' });
    const err = await rejection(
      sink(`http://127.0.0.1:${proxy.port}`, { ...FAST, retries: 2 }).publish([ev('c', 'data: 1\n\n')]),
    );
    expect(proxy.requests).toHaveLength(3);
    expect(err.attempts).toBe(3);
    expect(err.status).toBe(502);
    expect(err.body).toBe('bad gateway');
  });

  it('network errors: rejects after retries with no status and the cause', async () => {
    const proxy = await fakeProxy();
    const port = proxy.port;
    await proxy.close();
    const err = await rejection(
      sink(`http://127.0.0.1:${port}`, { ...FAST, retries: 2 }).publish([ev('c', 'data: 1\n\n')]),
    );
    expect(err.attempts).toBe(3);
    expect(err.status).toBeUndefined();
    expect(err.message).toMatch(/ECONNREFUSED|fetch failed/);
    expect(err.cause).toBeDefined();
  });

  it('times out a request that gets no answer, and retries it', async () => {
    const proxy = await fakeProxy();
    proxy.replies.push('hang');
    // Long enough that the answered retry never times out on a busy machine.
    await sink(`http://127.0.0.1:${proxy.port}`, { ...FAST, timeoutMs: 2000 }).publish([
      ev('c', 'data: 1\n\n'),
    ]);
    expect(proxy.requests).toHaveLength(2);

    proxy.replies.push('hang', 'hang');
    const err = await rejection(
      sink(`http://127.0.0.1:${proxy.port}`, { ...FAST, retries: 1, timeoutMs: 100 }).publish([
        ev('c', 'data: 1\n\n'),
      ]),
    );
    expect(err.message).toContain('no answer within 100 ms');
  });

  it('keeps per-channel order while an earlier batch is being retried', async () => {
    const proxy = await fakeProxy();
    proxy.replies.push({ status: 503 }, { status: 503 });
    const s = sink(`http://127.0.0.1:${proxy.port}`, { retries: 3, minDelayMs: 20, maxDelayMs: 40 });
    const first = s.publish([ev('c', 'data: 1\n\n', '1')]);
    const second = s.publish([ev('c', 'data: 2\n\n', '2')]);
    await Promise.all([first, second]);
    const ids = proxy.requests.map(
      (r) => (JSON.parse(r.body) as { items: Array<{ id: string }> }).items[0]?.id,
    );
    expect(ids).toEqual(['1', '1', '1', '2']);
  });

  it('a failed batch does not block the next one', async () => {
    const proxy = await fakeProxy();
    proxy.replies.push({ status: 400, body: 'no' });
    const s = sink(`http://127.0.0.1:${proxy.port}`);
    const first = s.publish([ev('c', 'data: 1\n\n')]);
    const second = s.publish([ev('c', 'data: 2\n\n')]);
    await rejection(first);
    await second;
  });

  it('several failing proxies are all reported', async () => {
    const a = await fakeProxy();
    const b = await fakeProxy();
    a.replies.push({ status: 404, body: 'Not Found' });
    b.replies.push({ status: 405, body: 'Method not allowed' });
    const err = await rejection(
      sink([`http://127.0.0.1:${a.port}`, `http://127.0.0.1:${b.port}`]).publish([ev('c', 'data: 1\n\n')]),
    );
    expect(err.status).toBe(404);
    expect(err.failures.map((f) => f.status)).toEqual([404, 405]);
  });

  it('honours Retry-After up to maxDelayMs', async () => {
    const proxy = await fakeProxy();
    // An hour: a sink that ignored maxDelayMs would outlast the test's timeout and fail it.
    proxy.replies.push({ status: 429, headers: { 'Retry-After': '3600' } });
    const started = Date.now();
    await sink(`http://127.0.0.1:${proxy.port}`, { retries: 1, minDelayMs: 1, maxDelayMs: 150 }).publish([
      ev('c', 'data: 1\n\n'),
    ]);
    // It did wait (a timer may fire a millisecond early), and only what maxDelayMs allows.
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(proxy.requests).toHaveLength(2);
  });
});

describe('createGripSink: lifecycle', () => {
  function activeTimers(): number {
    return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  }

  it('close() stops a retrying batch at once, rejects it, and leaves no timers', async () => {
    const proxy = await fakeProxy();
    for (let i = 0; i < 5; i++) proxy.replies.push({ status: 503 });
    const before = activeTimers();
    const settings = resolveGrip(`http://127.0.0.1:${proxy.port}`);
    const s = createGripSink(settings!, {
      prefix: '',
      retry: { retries: 5, minDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    const p = s.publish([ev('c', 'data: 1\n\n')]);
    const queued = s.publish([ev('c', 'data: 2\n\n')]);
    await proxy.waitForRequests(1);
    await new Promise((resolve) => setImmediate(resolve));
    const started = Date.now();
    await s.close?.();
    // "At once" next to the 60 s retry delay; the slack is for a busy machine.
    expect(Date.now() - started).toBeLessThan(20_000);
    const err = await rejection(p);
    expect(err.message).toMatch(/closed/);
    await rejection(queued);
    expect(activeTimers()).toBeLessThanOrEqual(before);
  });

  it('close() aborts a request in flight', async () => {
    const proxy = await fakeProxy();
    proxy.replies.push('hang');
    const s = sink(`http://127.0.0.1:${proxy.port}`, { ...FAST, timeoutMs: 60_000 });
    const p = s.publish([ev('c', 'data: 1\n\n')]);
    await proxy.waitForRequests(1);
    await s.close?.();
    const err = await rejection(p);
    expect(err.attempts).toBe(1);
  });

  it('publish() after close() rejects (never throws synchronously)', async () => {
    const proxy = await fakeProxy();
    const s = sink(`http://127.0.0.1:${proxy.port}`);
    await s.close?.();
    let p: Promise<void> | undefined;
    expect(() => {
      p = s.publish([ev('c', 'data: 1\n\n')]);
    }).not.toThrow();
    await rejection(p!);
    expect(proxy.requests).toHaveLength(0);
  });

  it('validates retry options', () => {
    const settings = resolveGrip('http://127.0.0.1:1')!;
    for (const retry of [
      { retries: -1 },
      { retries: 1.5 },
      { minDelayMs: 10, maxDelayMs: 5 },
      { timeoutMs: 0 },
    ]) {
      expect(() => createGripSink(settings, { prefix: '', retry })).toThrow(GripConfigError);
    }
  });
});
