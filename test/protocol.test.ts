import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createHandler,
  type EventMap,
  type Events,
  events,
  type HandlerOptions,
  type HttpRequest,
} from '../src/index.js';
import { serveEvents, startServer, type TestServer } from './helpers/server.js';
import { connect, request, type SseClient } from './helpers/sse-client.js';

const SSE = { accept: 'text/event-stream' };
let server: TestServer | undefined;
let ev: Events | undefined;
const clients: SseClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await ev?.close();
  await server?.close();
  server = undefined;
  ev = undefined;
});

async function serve(
  options: Partial<HandlerOptions<EventMap, HttpRequest>> & {
    keepAlive?: number | false;
    history?: false;
  } = {},
) {
  const { keepAlive, history, ...handlerOptions } = options;
  const fx = await serveEvents(
    { ...(keepAlive !== undefined && { keepAlive }), ...(history !== undefined && { history }) },
    handlerOptions,
  );
  ev = fx.ev;
  server = fx.server;
  return { ev, server };
}

async function open(path: string, headers: Record<string, string> = SSE): Promise<SseClient> {
  const client = await connect(server!.url(path), headers);
  clients.push(client);
  return client;
}

describe('a successful subscription', () => {
  it('answers 200 with the event-stream headers, flushed at once, and stream-open first', async () => {
    await serve();
    const c = await open('/?channel=clock');
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(c.headers['cache-control']).toBe('no-cache, no-transform');
    expect(c.headers['x-accel-buffering']).toBe('no');
    // Set by Node for HTTP/1.1 only; never by the library (they are illegal on HTTP/2).
    expect(c.headers['content-length']).toBeUndefined();
    await c.waitFor((x) => x.events.length >= 1, 2000, 'stream-open');
    expect(c.events[0]).toMatchObject({ event: 'stream-open', data: '' });
    // With history on (the default), stream-open marks the client's position in the history.
    expect(c.events[0]!.id).toMatch(/^[0-9a-z]+-0$/);
  });

  it('sends stream-open without an id when history is off', async () => {
    await serve({ history: false });
    const c = await open('/?channel=clock');
    await c.waitFor((x) => x.events.length >= 1);
    expect(c.events[0]).toEqual({ event: 'stream-open', data: '', id: undefined });
  });

  it('delivers JSON data and named events of the requested channels only, with history ids', async () => {
    const { ev } = await serve();
    const c = await open('/?channel=a&channel=b');
    await c.waitFor((x) => x.events.length >= 1);
    const epoch = c.events[0]!.id!.split('-')[0];
    await ev.publish('a', { event: 'time', data: { value: 'T1' } });
    await ev.publish('z', { event: 'other', data: 1 });
    await ev.publish('b', { data: 'plain "string"' });
    await c.waitFor((x) => x.events.length >= 3);
    // One sequence for the whole namespace: the event on z took id 2.
    expect(c.events.slice(1)).toEqual([
      { event: 'time', data: '{"value":"T1"}', id: `${epoch}-1` },
      { event: 'message', data: '"plain \\"string\\""', id: `${epoch}-3` },
    ]);
  });

  it('writes caller-supplied ids when history is off, and rejects them when it is on', async () => {
    const { ev } = await serve({ history: false });
    const c = await open('/?channel=a');
    await c.waitFor((x) => x.events.length >= 1);
    await ev.publish('a', { event: 'x', id: 'order-17' });
    await c.waitFor((x) => x.named('x').length === 1);
    expect(c.named('x')[0]!.id).toBe('order-17');
    await expect(events().publish('a', { event: 'x', id: '1' })).rejects.toMatchObject({
      code: 'ERR_SSE_INVALID_EVENT',
      field: 'id',
    });
  });

  it('sends raw string data verbatim when asked', async () => {
    const { ev } = await serve();
    const c = await open('/?channel=logs');
    await c.waitFor((x) => x.events.length >= 1);
    await ev.publish('logs', { event: 'line', data: 'one\r\ntwo', raw: true });
    await c.waitFor((x) => x.named('line').length === 1);
    expect(c.named('line')[0]!.data).toBe('one\ntwo');
    expect(c.body).toContain('data: one\ndata: two\n\n');
  });

  it('treats a repeated channel as one subscription', async () => {
    const { ev } = await serve();
    const c = await open('/?channel=a&channel=a');
    await c.waitFor((x) => x.events.length >= 1);
    expect(ev.stats().subscribers).toEqual({ a: 1 });
    await ev.publish('a', { event: 'x' });
    await c.waitFor((x) => x.named('x').length >= 1);
    await ev.publish('a', { event: 'y' });
    await c.waitFor((x) => x.named('y').length >= 1);
    expect(c.named('x')).toHaveLength(1);
  });

  it('sends a retry line first when configured, and padding when asked', async () => {
    await serve({ retry: 2500, padding: true });
    const c = await open('/?channel=a');
    await c.waitFor((x) => x.events.length >= 1);
    expect(c.retries).toEqual([2500]);
    expect(c.body.startsWith(`:${' '.repeat(2048)}\n\n`)).toBe(true);
  });

  it('draws each stream its own retry from a range; everything after it is the same bytes', async () => {
    const { ev } = await serve({ retry: { minDelayMs: 1000, maxDelayMs: 1999 }, padding: true });
    const all = await Promise.all(Array.from({ length: 30 }, () => open('/?channel=a')));
    for (const c of all) await c.waitFor((x) => x.events.length >= 1);
    await ev.publish('a', { event: 'x', data: 1 });
    for (const c of all) await c.waitFor((x) => x.named('x').length === 1);
    for (const c of all) {
      expect(c.retries).toHaveLength(1);
      expect(c.retries[0]).toBeGreaterThanOrEqual(1000);
      expect(c.retries[0]).toBeLessThanOrEqual(1999);
      expect(
        c.body.startsWith(`:${' '.repeat(2048)}\n\nretry: ${c.retries[0]}\n\nevent: stream-open\n`),
      ).toBe(true);
    }
    // 30 draws from 1,000 values: all alike would mean one shared draw.
    expect(new Set(all.map((c) => c.retries[0])).size).toBeGreaterThan(1);
    const live = (c: SseClient) => c.body.slice(c.body.indexOf('\n\n', c.body.indexOf('stream-open')) + 2);
    expect(new Set(all.map(live)).size).toBe(1);
  });

  it('with a retry range, stream-error carries its lower end (that reconnect is answered 204)', async () => {
    await serve({ retry: { minDelayMs: 200, maxDelayMs: 300 }, authorize: () => false });
    const c = await open('/?channel=a');
    await c.waitFor((x) => x.named('stream-error').length === 1);
    expect(c.retries).toEqual([200]);
  });

  it('serves clients that send no Accept header or a wildcard', async () => {
    await serve();
    const none = await open('/?channel=a', {});
    const star = await open('/?channel=a', { accept: 'text/html, */*;q=0.1' });
    await none.waitFor((x) => x.events.length >= 1);
    await star.waitFor((x) => x.events.length >= 1);
    expect(none.status).toBe(200);
    expect(star.status).toBe(200);
  });
});

describe('keep-alive', () => {
  // A test about time: the hub's sweep interval and the clock are faked; sockets stay real.
  // What a client has NOT received is checked by publishing a marker and waiting for it: the
  // stream is ordered, so anything written before the marker has arrived by then.
  const fakeClock = () => vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function marker(c: SseClient, n: number): Promise<void> {
    await ev!.publish('a', { event: 'marker', data: n });
    await c.waitFor((x) => x.named('marker').length === n, 5000, `marker ${n}`);
  }

  it('sends a keep-alive event after the configured silence, not while events flow', async () => {
    fakeClock();
    const { ev } = await serve({ keepAlive: 200 });
    const c = await open('/?channel=a');
    await c.waitFor((x) => x.events.length >= 1, 5000, 'stream-open');
    vi.advanceTimersByTime(199);
    // Silence of 199 ms: nothing yet. (The marker itself is a write: the silence restarts.)
    await marker(c, 1);
    expect(c.named('keep-alive')).toHaveLength(0);
    // The hub checks every quarter interval: a keep-alive follows 1× to 1.25× of silence.
    vi.advanceTimersByTime(250);
    await c.waitFor((x) => x.named('keep-alive').length === 1, 5000, 'a keep-alive');
    expect(c.body).toContain('event: keep-alive\ndata:\n\n');
    // An event every 150 ms for 3 s keeps the connection busy: no keep-alive during that time.
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(150);
      await ev.publish('a', { event: 'tick', data: i });
    }
    await marker(c, 2);
    expect(c.named('tick')).toHaveLength(20);
    expect(c.named('keep-alive')).toHaveLength(1);
    // Silent again: keep-alives resume, one per interval.
    vi.advanceTimersByTime(250);
    await c.waitFor((x) => x.named('keep-alive').length === 2, 5000, 'the second keep-alive');
    vi.advanceTimersByTime(250);
    await c.waitFor((x) => x.named('keep-alive').length === 3, 5000, 'the third keep-alive');
  });

  it('can be a comment', async () => {
    fakeClock();
    ev = events({ keepAlive: 100, keepAliveFormat: 'comment' });
    server = await startServer(createHandler({ events: ev }));
    const c = await open('/?channel=a');
    await c.waitFor((x) => x.events.length >= 1, 5000, 'stream-open');
    vi.advanceTimersByTime(100);
    await c.waitFor((x) => x.body.endsWith('\n\n:\n\n'), 5000, 'comment keep-alive');
    expect(c.named('keep-alive')).toHaveLength(0);
  });

  it('can be turned off with keepAlive: false', async () => {
    fakeClock();
    await serve({ keepAlive: false });
    const c = await open('/?channel=a');
    await c.waitFor((x) => x.events.length >= 1, 5000, 'stream-open');
    const before = c.body;
    // An hour of silence, in quarter-second steps (finer than any sweep would check).
    for (let i = 0; i < 4 * 3600; i++) vi.advanceTimersByTime(250);
    await marker(c, 1);
    expect(c.named('keep-alive')).toHaveLength(0);
    // Nothing but the marker was written: no keep-alive event and no comment.
    expect(c.body.slice(before.length)).toMatch(/^id: \S+\nevent: marker\ndata: 1\n\n$/);
  });
});

describe('refused subscriptions', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['no channel', '/', /one or more channels/],
    ['an empty channel', '/?channel=', /must not be empty/],
    ['a comma list', '/?channel=a,b', /must not contain ','.*repeat the parameter/],
    ['a semicolon', '/?channel=a;b', /must not contain ';'/],
    ['a control character', '/?channel=a%0Ab', /control character U\+000a/],
    ['a NUL', '/?channel=a%00', /control character U\+0000/],
    ['a name that is too long', `/?channel=${'x'.repeat(129)}`, /longer than 128/],
    ['surrounding whitespace', '/?channel=%20a', /whitespace/],
    [
      'too many channels',
      `/?${Array.from({ length: 21 }, (_, i) => `channel=c${i}`).join('&')}`,
      /Too many channels: 21/,
    ],
  ];

  it.each(cases)(
    '%s: EventSource clients get a stream-error, then the stream ends',
    async (_n, path, text) => {
      const { ev } = await serve();
      const c = await open(path);
      // Generous: the refusal is a complete response; only a loaded machine makes it slow.
      await c.waitFor((x) => x.ended, 20_000, 'end of stream');
      expect(c.status).toBe(200);
      expect(c.events).toHaveLength(1);
      const [error] = c.events;
      expect(error!.event).toBe('stream-error');
      expect(error!.id).toBe('error');
      const data = JSON.parse(error!.data) as { condition: string; text: string };
      expect(data.condition).toBe('bad-request');
      expect(data.text).toMatch(text);
      expect(ev.stats().connections).toBe(0);
    },
  );

  it.each(cases)('%s: other clients get 400 with a plain-text reason', async (_n, path, text) => {
    await serve();
    const res = await request(server!.url(path));
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body).toMatch(text);
  });

  it('answers the reconnect that follows a stream-error with 204, which stops EventSource', async () => {
    await serve();
    const res = await request(server!.url('/'), { headers: { ...SSE, 'last-event-id': 'error' } });
    expect(res.status).toBe(204);
    expect(res.body).toBe('');
  });

  it('answers 406 when Accept excludes text/event-stream', async () => {
    await serve();
    for (const accept of ['application/json', 'text/html', 'text/event-stream;q=0, */*']) {
      const res = await request(server!.url('/?channel=a'), { headers: { accept } });
      expect(res.status, accept).toBe(406);
      expect(res.body).toMatch(/Not Acceptable/);
    }
  });

  it('never opens a stream for HEAD or OPTIONS, and refuses other methods', async () => {
    const { ev } = await serve();
    const head = await request(server!.url('/?channel=a'), { method: 'HEAD', headers: SSE });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(head.body).toBe('');
    const options = await request(server!.url('/?channel=a'), { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.allow).toBe('GET, HEAD, OPTIONS');
    const post = await request(server!.url('/?channel=a'), { method: 'POST', headers: SSE });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect(ev.stats().connectionsOpened).toBe(0);
  });
});

describe('channels and authorize options', () => {
  it('derives channels from the request with a function', async () => {
    const { ev } = await serve({
      channels: (req) => [`user-${new URL(req.url ?? '/', 'http://x').pathname.slice(1)}`],
    });
    const c = await open('/alice');
    await c.waitFor((x) => x.events.length >= 1);
    expect(ev.stats().subscribers).toEqual({ 'user-alice': 1 });
  });

  it('validates channels returned by the function too', async () => {
    await serve({ channels: () => ['ok', 'bad;name'] });
    const res = await request(server!.url('/'));
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/must not contain ';'/);
  });

  it('denies with stream-error forbidden (sync hook) and 403 for other clients (async hook)', async () => {
    const seen: string[][] = [];
    await serve({
      authorize: async (_req, channels) => {
        seen.push([...channels]);
        return !channels.includes('secret');
      },
    });
    const c = await open('/?channel=public&channel=secret');
    await c.waitFor((x) => x.ended);
    expect(c.events[0]!.event).toBe('stream-error');
    expect(JSON.parse(c.events[0]!.data)).toMatchObject({ condition: 'forbidden' });
    const res = await request(server!.url('/?channel=secret'));
    expect(res.status).toBe(403);
    expect(res.body).toMatch(/Forbidden/);
    const ok = await open('/?channel=public');
    await ok.waitFor((x) => x.events.length >= 1);
    expect(ok.events[0]!.event).toBe('stream-open');
    expect(seen).toEqual([['public', 'secret'], ['secret'], ['public']]);
  });

  it('answers 500 (and reports an error) when a hook throws, without crashing', async () => {
    const { ev } = await serve({
      authorize: () => {
        throw new Error('database down');
      },
    });
    const errors: Error[] = [];
    ev.on('error', (err) => errors.push(err));
    const res = await request(server!.url('/?channel=a'), { headers: SSE });
    expect(res.status).toBe(500);
    expect(res.body).not.toMatch(/database/);
    expect(errors.map((e) => e.message)).toEqual(['database down']);
  });
});

describe('invalid options are typed errors', () => {
  it('rejects bad events() and createHandler() options with ERR_SSE_INVALID_OPTION', () => {
    const bad: Array<() => unknown> = [
      () => events({ keepAlive: -5 }),
      () => events({ maxBufferBytes: 0 }),
      () => events({ prefix: 'a;b' }),
      () => events({ keepAliveFormat: 'loud' as 'event' }),
      () => createHandler({ events: {} as Events }),
      () => createHandler({ events: events(), authorize: 'yes' as unknown as () => boolean }),
      () => createHandler({ events: events(), retry: -1 }),
    ];
    for (const fn of bad) {
      expect(fn).toThrowError(
        expect.objectContaining({ code: expect.stringMatching(/^ERR_SSE_INVALID_(OPTION|CHANNEL)$/) }),
      );
    }
  });
});
