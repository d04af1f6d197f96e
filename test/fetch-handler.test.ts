// fetchHandler in-process: real `Request`s in, real `Response`s (with web-stream bodies) out, on
// Node's Fetch implementation. Options validation, the Request given to channels() and
// authorize(), failures, Grip-Sig verification (jose), and the stream lifecycle. The same
// handler under real servers on Node, Bun and Deno: test/runtimes/fetch.test.ts.
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Events,
  type EventsOptions,
  events,
  fetchHandler,
  InvalidOptionError,
  MemoryStore,
} from '../src/index.js';

const opened: Events[] = [];
afterEach(async () => {
  for (const ev of opened.splice(0)) await ev.close();
});

function namespace(options: EventsOptions = {}): Events {
  const ev = events({ keepAlive: false, ...options });
  opened.push(ev);
  return ev;
}

const SSE = { accept: 'text/event-stream' };
const get = (path: string, headers: Record<string, string> = SSE, signal?: AbortSignal) =>
  new Request(`http://127.0.0.1:3000${path}`, { headers, ...(signal && { signal }) });

/** Reads a streamed body chunk by chunk until `done(text)` holds. */
async function readUntil(res: Response, done: (text: string) => boolean): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!done(text)) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    text += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  return text;
}

describe('fetchHandler options', () => {
  it('are validated like createHandler: unknown keys, non-Events, non-functions, bad retry', () => {
    const ev = namespace();
    const error = (options: unknown) => {
      try {
        fetchHandler(options as never);
      } catch (err) {
        return err as InvalidOptionError;
      }
      throw new Error('accepted');
    };
    const unknown = error({ events: ev, chanels: () => [] });
    expect(unknown).toBeInstanceOf(InvalidOptionError);
    expect(unknown.code).toBe('ERR_SSE_INVALID_OPTION');
    expect(unknown.message).toMatch(/did you mean 'channels'/);
    expect(error({ events: {} }).message).toMatch(/Events object/);
    expect(error({ events: ev, authorize: true }).message).toMatch(/authorize must be a function/);
    expect(error({ events: ev, retry: -1 }).message).toMatch(/retry/);
    expect(error(null).message).toMatch(/options must be an object/);
    expect(error({ events: ev, grip: { key: 'x', bogus: 1 } }).code).toBe('ERR_SSE_INVALID_OPTION');
  });
});

describe('fetchHandler', () => {
  it('streams: event-stream headers, preamble and stream-open, then live events; the abort releases it', async () => {
    const ev = namespace();
    const handler = fetchHandler({ events: ev, retry: 2500 });
    const abort = new AbortController();
    const res = await handler(get('/events?channel=a&channel=b', SSE, abort.signal));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(ev.stats().subscribers).toEqual({ a: 1, b: 1 });
    const head = await readUntil(res, (t) => t.includes('stream-open'));
    expect(head).toMatch(/^retry: 2500\n/);
    await ev.publish('b', { event: 'n', data: 1 });
    expect(await readUntil(res, (t) => t.includes('data: 1'))).toMatch(/event: n\ndata: 1\n\n$/);
    abort.abort();
    expect(ev.stats().connections).toBe(0);
    expect(ev.stats().subscribers).toEqual({});
  });

  it('?channelField=1: each event carries its channel', async () => {
    const ev = namespace();
    const handler = fetchHandler({ events: ev });
    const abort = new AbortController();
    const res = await handler(get('/events?channel=a&channel=b&channelField=1', SSE, abort.signal));
    await readUntil(res, (t) => t.includes('stream-open'));
    await ev.publish('b', { event: 'n', data: 1 });
    expect(await readUntil(res, (t) => t.includes('data: 1'))).toMatch(
      /^channel: b\nid: \S+\nevent: n\ndata: 1\n\n$/,
    );
    abort.abort();
  });

  it('passes the Request itself to channels() and authorize()', async () => {
    const ev = namespace();
    const seen: Request[] = [];
    const handler = fetchHandler({
      events: ev,
      channels: (request) => {
        seen.push(request);
        return [`room-${new URL(request.url).pathname.split('/')[2]}`];
      },
      authorize: (request, channels) => {
        seen.push(request);
        return request.headers.get('x-user') === 'admin' && channels.length === 1;
      },
    });
    const allowed = get('/rooms/lobby/events', { ...SSE, 'x-user': 'admin' });
    const res = await handler(allowed);
    expect(seen).toEqual([allowed, allowed]);
    expect(ev.stats().subscribers).toEqual({ 'room-lobby': 1 });
    await res.body!.cancel();
    expect(ev.stats().connections).toBe(0);

    const denied = await handler(get('/rooms/lobby/events', { ...SSE, 'x-user': 'guest' }));
    expect(denied.status).toBe(200);
    const text = await denied.text();
    expect(text).toMatch(/^event: stream-error\nid: error\n/);
    expect(text).toContain('"condition":"forbidden"');
    const plain = await handler(get('/rooms/lobby/events', { accept: '*/*', 'x-user': 'guest' }));
    expect(plain.status).toBe(403);
    expect(plain.headers.get('content-type')).toBe('text/plain; charset=utf-8');
  });

  it('answers refusals as complete responses: 400, 405, 406, 204 (no body)', async () => {
    const handler = fetchHandler({ events: namespace() });
    const bad = await handler(get('/events?channel=a%3Bb', { accept: '*/*' }));
    expect([bad.status, await bad.text()]).toEqual([400, expect.stringMatching(/^Bad Request/)]);
    const post = await handler(new Request('http://127.0.0.1/events?channel=a', { method: 'POST' }));
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD, OPTIONS']);
    const json = await handler(get('/events?channel=a', { accept: 'application/json' }));
    expect(json.status).toBe(406);
    const stop = await handler(get('/events?channel=a', { ...SSE, 'last-event-id': 'error' }));
    expect([stop.status, stop.body]).toEqual([204, null]);
    const options = await handler(new Request('http://127.0.0.1/events', { method: 'OPTIONS' }));
    expect([options.status, options.body]).toEqual([204, null]);
  });

  it('resumes after Last-Event-ID (header or ?lastEventId=) with exactly the missed events', async () => {
    const ev = namespace();
    const handler = fetchHandler({ events: ev });
    const first = await handler(get('/events?channel=r'));
    await readUntil(first, (t) => t.includes('stream-open'));
    for (const n of [1, 2, 3]) await ev.publish('r', { event: 'n', data: n });
    const all = await readUntil(first, (t) => t.includes('data: 3'));
    await first.body!.cancel();
    const id = /id: (\S+)\nevent: n\ndata: 1\n/.exec(all)?.[1];
    expect(id).toBeDefined();
    for (const request of [
      get('/events?channel=r', { ...SSE, 'last-event-id': id! }),
      get(`/events?channel=r&lastEventId=${id}`),
    ]) {
      const again = await handler(request);
      const replay = await readUntil(again, (t) => t.includes('data: 3'));
      expect(replay.match(/data: \d/g)).toEqual(['data: 2', 'data: 3']);
      await again.body!.cancel();
    }
    expect(ev.stats().connections).toBe(0);
  });

  it("a throwing authorize() answers 500 and is reported as the Events object's 'error'", async () => {
    const ev = namespace();
    const errors: Error[] = [];
    ev.on('error', (err) => errors.push(err));
    const handler = fetchHandler({
      events: ev,
      authorize: () => {
        throw new Error('auth backend down');
      },
    });
    const res = await handler(get('/events?channel=a'));
    expect(res.status).toBe(500);
    expect(errors.map((e) => e.message)).toEqual(['auth backend down']);
    expect(ev.stats().connections).toBe(0);
  });

  it('a history that fails on a proxied request answers 503 with Retry-After', async () => {
    const store = new MemoryStore();
    store.readAfter = () => Promise.reject(Object.assign(new Error('down'), { code: 'ERR_SSE_STORE' }));
    const ev = namespace({ history: store });
    ev.on('error', () => {});
    const handler = fetchHandler({ events: ev, grip: 'http://127.0.0.1:5561?key=changeme' });
    const sig = await new SignJWT({ iss: 'pushpin', exp: Math.floor(Date.now() / 1000) + 60 })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('changeme'));
    const res = await handler(get('/events?channel=a', { ...SSE, 'grip-sig': sig, 'last-event-id': 'x-1' }));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
  });

  it('verifies Grip-Sig: a signed request gets hold instructions, a forged one 403', async () => {
    const ev = namespace();
    const handler = fetchHandler({ events: ev, grip: 'http://127.0.0.1:5561?key=changeme' });
    const sign = (key: string) =>
      new SignJWT({ iss: 'pushpin', exp: Math.floor(Date.now() / 1000) + 60 })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(key));
    const held = await handler(get('/events?channel=news', { ...SSE, 'grip-sig': await sign('changeme') }));
    expect(held.status).toBe(200);
    expect(held.headers.get('grip-hold')).toBe('stream');
    expect(held.headers.get('grip-channel')).toMatch(/^events-news\b/);
    const body = await held.text();
    expect(body).toContain('event: stream-open');
    expect(held.headers.get('content-length')).toBe(String(new TextEncoder().encode(body).length));
    expect(ev.stats().connections).toBe(0);
    const forged = await handler(get('/events?channel=news', { ...SSE, 'grip-sig': await sign('guess') }));
    expect(forged.status).toBe(403);
    expect(await forged.text()).toMatch(/signature does not verify/);
  });

  it('warns once when a proxy holds a multi-channel stream without reliable mode, never silently', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const sig = await new SignJWT({ iss: 'pushpin', exp: Math.floor(Date.now() / 1000) + 60 })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode('changeme'));
      const hold = async (ev: Events, channels: string) => {
        const handler = fetchHandler({ events: ev, grip: 'http://127.0.0.1:5561?key=changeme' });
        const res = await handler(get(`/events?${channels}`, { ...SSE, 'grip-sig': sig }));
        expect(res.headers.get('grip-hold')).toBe('stream');
        await res.text();
      };
      const plain = namespace({ name: 'plain-multi' });
      const reliable = namespace({ name: 'reliable-multi', reliable: { secret: 'a-secret-of-16-chars!' } });
      await hold(plain, 'channel=a');
      await hold(reliable, 'channel=a&channel=b');
      await hold(plain, 'channel=a&channel=b');
      await hold(plain, 'channel=b&channel=c');
      // process.emitWarning delivers on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      const ours = warnings.filter(
        (w) => (w as { code?: string }).code === 'EXPRESS_EVENTSTREAM_GRIP_MULTI_CHANNEL',
      );
      expect(ours).toHaveLength(1);
      expect(ours[0]!.message).toMatch(/without reliable mode/);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('never subscribes a request whose client already left, nor one after close()', async () => {
    const ev = namespace();
    const handler = fetchHandler({ events: ev });
    const abort = new AbortController();
    abort.abort();
    const gone = await handler(get('/events?channel=a', SSE, abort.signal));
    expect(gone.status).toBe(200);
    expect(await gone.text()).toBe('');
    await ev.close();
    const late = await handler(get('/events?channel=a'));
    expect(await late.text()).toBe('');
    expect(ev.stats().connectionsOpened).toBe(0);
  });

  it('ends open streams cleanly on close()', async () => {
    const ev = namespace();
    const res = await fetchHandler({ events: ev })(get('/events?channel=a'));
    expect(await readUntil(res, (t) => t.includes('stream-open'))).toMatch(/event: stream-open/);
    await ev.close();
    // The body ends (a reset would reject the read instead).
    await expect(readUntil(res, () => false)).resolves.toBeTypeOf('string');
    expect(ev.stats().connections).toBe(0);
  });
});
