// The delivery engine: encode once, per-tick coalescing, slow-client bounds, release on
// disconnect, rejection of bad events, stats and lifecycle. Real servers on 127.0.0.1, real
// sockets; every wait is on a condition.
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import {
  events as createEvents,
  createHandler,
  DataSerializationError,
  type DisconnectInfo,
  type ErrorContext,
  type EventInput,
  type Events,
  EventsClosedError,
  type EventsOptions,
  InvalidEventError,
} from '../src/index.js';
import { startServer, type TestServer } from './helpers/server.js';
import { connect, type SseClient, until } from './helpers/sse-client.js';

const STREAM_OPEN = 'event: stream-open\ndata:\n\n';

/** What the server wrote to one connection's socket, observed from inside the server. */
interface Tap {
  tag: string;
  socket: net.Socket;
  /** Every buffer handed to `socket.write`, headers included. */
  writes: Array<Buffer | string>;
  /** Largest `socket.writableLength` seen right after a write. */
  maxBuffered: number;
}

interface Fixture {
  ev: Events;
  server: TestServer;
  taps: Map<string, Tap>;
  /** Open an SSE client tagged `tag` (the tag only names the server-side tap). */
  client(query: string, tag: string): Promise<SseClient>;
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tapSocket(req: IncomingMessage, taps: Map<string, Tap>): void {
  const tag = new URL(req.url ?? '/', 'http://x').searchParams.get('tag');
  if (tag === null) return;
  const socket = req.socket;
  const tap: Tap = { tag, socket, writes: [], maxBuffered: 0 };
  taps.set(tag, tap);
  const original = socket.write as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]) => {
    const chunk = args[0];
    if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) tap.writes.push(chunk);
    const result = original.apply(socket, args);
    tap.maxBuffered = Math.max(tap.maxBuffered, socket.writableLength);
    return result;
  }) as typeof socket.write;
}

async function setup(options: EventsOptions = {}): Promise<Fixture> {
  // History off: these tests set their own ids and look at exact bytes.
  const ev = createEvents({ keepAlive: false, history: false, ...options });
  const handler = createHandler({ events: ev });
  const taps = new Map<string, Tap>();
  const server = await startServer((req, res) => {
    tapSocket(req, taps);
    handler(req, res);
  });
  const clients: SseClient[] = [];
  cleanups.push(async () => {
    for (const c of clients) c.close();
    await ev.close();
    await server.close();
  });
  return {
    ev,
    server,
    taps,
    async client(query, tag) {
      const c = await connect(server.url(`/?${query}&tag=${tag}`));
      clients.push(c);
      expect(c.status).toBe(200);
      await c.waitFor((x) => x.events[0]?.event === 'stream-open', 5000, `stream-open on ${tag}`);
      return c;
    },
  };
}

function tap(fx: Fixture, tag: string): Tap {
  const t = fx.taps.get(tag);
  if (t === undefined) throw new Error(`no server-side tap for ${tag}`);
  return t;
}

/** Wire bytes of a named JSON event (history off), as the encoder must produce them. */
function wire(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A raw HTTP/1.1 subscription on a plain TCP socket. */
function rawSubscribe(port: number, query: string): net.Socket {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`GET /?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  return socket;
}

function countResources(): { timeouts: number; tcp: number } {
  let timeouts = 0;
  let tcp = 0;
  for (const r of process.getActiveResourcesInfo()) {
    if (r === 'Timeout') timeouts++;
    else if (r === 'TCPSocketWrap') tcp++;
  }
  return { timeouts, tcp };
}

function obtainGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

describe('encode once, same bytes to everyone', () => {
  it('serialises data once per event and writes the identical buffer to every subscriber', async () => {
    const fx = await setup();
    const clients = [
      await fx.client('channel=news', 'n0'),
      await fx.client('channel=news', 'n1'),
      await fx.client('channel=news', 'n2'),
    ];
    let toJsonCalls = 0;
    const data = {
      toJSON() {
        toJsonCalls++;
        return { headline: 'once' };
      },
    };
    await fx.ev.publish('news', { event: 'story', id: '1', data });
    for (const c of clients) await c.waitFor((x) => x.events.length === 2, 5000, 'story 1');
    expect(toJsonCalls).toBe(1);
    // The very same Buffer object went to the three sockets: encoded and framed once.
    const lastWrites = ['n0', 'n1', 'n2'].map((t) => tap(fx, t).writes.at(-1));
    expect(lastWrites[0]).toBeInstanceOf(Buffer);
    expect(lastWrites[1]).toBe(lastWrites[0]);
    expect(lastWrites[2]).toBe(lastWrites[0]);

    await fx.ev.publish('news', { event: 'story', id: '2', data: { headline: 'two\nlines' } });
    await fx.ev.publish('news', { data: 'plain message' });
    for (const c of clients) await c.waitFor((x) => x.events.length === 4, 5000, 'all stories');
    const expected =
      STREAM_OPEN +
      wire('story', { headline: 'once' }, '1') +
      wire('story', { headline: 'two\nlines' }, '2') +
      'data: "plain message"\n\n';
    for (const c of clients) expect(c.body).toBe(expected);
    expect(clients[0]!.events.map((e) => [e.event, e.id, e.data])).toEqual([
      ['stream-open', undefined, ''],
      ['story', '1', '{"headline":"once"}'],
      ['story', '2', '{"headline":"two\\nlines"}'],
      ['message', undefined, '"plain message"'],
    ]);
  });
});

describe('per-tick coalescing and multi-channel order', () => {
  it('writes one chunk per connection for a tick and keeps publish order across channels', async () => {
    const fx = await setup();
    const ac = await fx.client('channel=a&channel=c', 'ac');
    const b = await fx.client('channel=b', 'b');
    const a = await fx.client('channel=a', 'a');
    const dup = await fx.client('channel=c&channel=c&channel=a', 'dup');
    const before = new Map([...fx.taps].map(([tag, t]) => [tag, t.writes.length]));
    const deliveredBefore = fx.ev.stats().eventsDelivered;

    const order = ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'c', 'b', 'a'];
    const seq = order.map((channel, i) => ({ channel, n: i }));
    const publishes = seq.map(({ channel, n }) =>
      fx.ev.publish(channel, { event: `on-${channel}`, id: String(n), data: { n } }),
    );
    await Promise.all(publishes);

    const expectFor = (channels: string[]) =>
      seq.filter((s) => channels.includes(s.channel)).map((s) => [`on-${s.channel}`, String(s.n)]);
    const got = (c: SseClient) => c.events.slice(1).map((e) => [e.event, e.id]);
    await ac.waitFor((x) => x.events.length === 1 + expectFor(['a', 'c']).length, 5000, 'a+c events');
    await b.waitFor((x) => x.events.length === 1 + expectFor(['b']).length, 5000, 'b events');
    await a.waitFor((x) => x.events.length === 1 + expectFor(['a']).length, 5000, 'a events');
    await dup.waitFor((x) => x.events.length === 1 + expectFor(['a', 'c']).length, 5000, 'dup events');
    expect(got(ac)).toEqual(expectFor(['a', 'c']));
    expect(got(b)).toEqual(expectFor(['b']));
    expect(got(a)).toEqual(expectFor(['a']));
    expect(got(dup)).toEqual(expectFor(['a', 'c']));

    // One socket write per connection for the whole tick.
    for (const tag of ['ac', 'b', 'a', 'dup']) {
      expect(tap(fx, tag).writes.length - before.get(tag)!, `writes to ${tag}`).toBe(1);
    }
    // Connections with the same channel set share one buffer.
    expect(tap(fx, 'dup').writes.at(-1)).toBe(tap(fx, 'ac').writes.at(-1));
    expect(fx.ev.stats().eventsDelivered - deliveredBefore).toBe(7 + 3 + 4 + 7);

    // Separate ticks are separate writes.
    const beforeB = tap(fx, 'b').writes.length;
    await fx.ev.publish('b', { event: 'on-b', data: 1 });
    await fx.ev.publish('b', { event: 'on-b', data: 2 });
    await b.waitFor((x) => x.events.length === 6, 5000, 'two more b events');
    expect(tap(fx, 'b').writes.length - beforeB).toBe(2);
    // Nothing leaked to the others.
    expect(ac.events.length).toBe(8);
    expect(a.events.length).toBe(5);
  });
});

describe('with the default history', () => {
  it('assigns increasing ids and still writes one identical chunk per connection for a tick', async () => {
    const fx = await setup({ history: undefined });
    const x = await fx.client('channel=h', 'x');
    const y = await fx.client('channel=h', 'y');
    const before = [tap(fx, 'x').writes.length, tap(fx, 'y').writes.length];
    await Promise.all([1, 2, 3].map((n) => fx.ev.publish('h', { event: 'n', data: n })));
    for (const c of [x, y]) await c.waitFor((v) => v.named('n').length === 3, 5000, 'three events');
    expect(tap(fx, 'x').writes.length - before[0]!).toBe(1);
    expect(tap(fx, 'y').writes.length - before[1]!).toBe(1);
    expect(tap(fx, 'y').writes.at(-1)).toBe(tap(fx, 'x').writes.at(-1));
    const ids = x.named('n').map((e) => e.id ?? '');
    expect(y.named('n').map((e) => e.id)).toEqual(ids);
    const seqs = ids.map((id) => Number(id.split('-')[1]));
    expect(seqs[1]).toBe(seqs[0]! + 1);
    expect(seqs[2]).toBe(seqs[0]! + 2);
    expect(x.named('n').map((e) => e.data)).toEqual(['1', '2', '3']);
    // A caller-supplied id is refused while the history assigns them.
    await expect(fx.ev.publish('h', { event: 'n', id: 'mine', data: 4 })).rejects.toBeInstanceOf(
      InvalidEventError,
    );
  });
});

describe('slow clients', () => {
  it('drops a client that stops reading, within one batch of the bound, without delaying others', async () => {
    const maxBufferBytes = 64 * 1024;
    const fx = await setup({ maxBufferBytes });
    const disconnects: DisconnectInfo[] = [];
    fx.ev.on('disconnect', (d) => disconnects.push(d));
    const healthy = await fx.client('channel=feed', 'healthy');

    // A client that never reads: no 'data' listener, so the socket stays paused after the
    // first bytes and the kernel buffers fill, then the server's.
    const slow = rawSubscribe(fx.server.port, 'channel=feed&tag=slow');
    cleanups.push(() => {
      slow.destroy();
    });
    await until(() => fx.ev.stats().connections === 2, 5000, 'slow client connected');

    const payload = 'x'.repeat(4096);
    const perBatch = 4;
    const batchBytes = perBatch * Buffer.byteLength(wire('tick', payload, '00000'));
    let published = 0;
    while (fx.ev.stats().slowClientsDropped === 0) {
      if (published > (64 * 1024 * 1024) / 4096) throw new Error('slow client was never dropped');
      const batch: Promise<void>[] = [];
      for (let j = 0; j < perBatch; j++) {
        batch.push(
          fx.ev.publish('feed', { event: 'tick', id: String(published).padStart(5, '0'), data: payload }),
        );
        published++;
      }
      await Promise.all(batch);
      // The healthy client keeps pace: each batch reaches it before the next is published.
      const want = published + 1;
      await healthy.waitFor((x) => x.events.length >= want, 5000, `healthy client to get ${published} ticks`);
    }
    const slowTap = tap(fx, 'slow');
    expect(fx.ev.stats().slowClientsDropped).toBe(1);
    expect(disconnects).toEqual([{ channels: ['feed'], reason: 'slow' }]);
    // The bound was what cut it off, and it never held more than one batch beyond it
    // (chunk framing adds a few bytes per write).
    expect(slowTap.maxBuffered).toBeGreaterThan(maxBufferBytes);
    expect(slowTap.maxBuffered).toBeLessThanOrEqual(maxBufferBytes + batchBytes + 16);
    expect(slowTap.socket.destroyed).toBe(true);
    expect(fx.ev.stats().connections).toBe(1);
    expect(fx.ev.stats().subscribers).toEqual({ feed: 1 });

    // The healthy client got every event, in order, and keeps getting them.
    await fx.ev.publish('feed', { event: 'tick', id: 'after', data: 'after' });
    await healthy.waitFor((x) => x.events.length === published + 2, 5000, 'event after the drop');
    const ids = healthy.named('tick').map((e) => e.id);
    expect(ids).toEqual([
      ...Array.from({ length: published }, (_, i) => String(i).padStart(5, '0')),
      'after',
    ]);
    expect(disconnects).toHaveLength(1);
  });
});

describe('disconnect releases everything', () => {
  it('survives 10,000 connect/disconnect cycles with no leaked subscribers, handles or heap', async () => {
    // Keep-alive on, so the hub's sweep timer is created and must be cleared each time.
    const ev = createEvents({ keepAlive: 20_000 });
    const handler = createHandler({ events: ev });
    const server = await startServer(handler);
    cleanups.push(async () => {
      await ev.close();
      await server.close();
    });
    let connects = 0;
    // Counted per reason and checked after the loop: a throw inside the listener would only
    // become a warning (the library isolates listener failures), never a test failure.
    const reasons = new Map<string, number>();
    ev.on('connect', () => connects++);
    ev.on('disconnect', (d) => reasons.set(d.reason, (reasons.get(d.reason) ?? 0) + 1));
    const gc = obtainGc();
    const BATCH = 200;
    const TOTAL = 10_000;

    async function cycle(round: number): Promise<void> {
      const target = connects + BATCH;
      const sockets: net.Socket[] = [];
      for (let i = 0; i < BATCH; i++) {
        const s = rawSubscribe(server.port, `channel=c${(round * BATCH + i) % 37}&channel=all`);
        s.resume();
        sockets.push(s);
      }
      await until(() => connects >= target, 15_000, `batch ${round} to connect`);
      expect(ev.stats().connections).toBe(BATCH);
      expect(ev.stats().subscribers.all).toBe(BATCH);
      for (const s of sockets) s.destroy();
      await until(() => ev.stats().connections === 0, 15_000, `batch ${round} to disconnect`);
    }

    const baseline = countResources();
    const warmup = 5;
    for (let round = 0; round < warmup; round++) await cycle(round);
    await until(() => countResources().tcp <= baseline.tcp, 10_000, 'warm-up sockets to close');
    gc();
    gc();
    const heapAfterWarmup = process.memoryUsage().heapUsed;

    for (let round = warmup; round < TOTAL / BATCH; round++) await cycle(round);

    expect(connects).toBe(TOTAL);
    // Every client left on its own: 10,000 disconnects, all with reason 'client'.
    expect(Object.fromEntries(reasons)).toEqual({ client: TOTAL });
    expect(ev.stats().connectionsOpened).toBe(TOTAL);
    expect(ev.stats().connections).toBe(0);
    expect(ev.stats().subscribers).toEqual({});
    await until(
      () => {
        const now = countResources();
        return now.tcp <= baseline.tcp && now.timeouts <= baseline.timeouts;
      },
      10_000,
      `handles back to baseline ${JSON.stringify(baseline)}, now ${JSON.stringify(countResources())}`,
    );
    gc();
    gc();
    const growth = process.memoryUsage().heapUsed - heapAfterWarmup;
    expect(growth, `heap growth ${(growth / 1e6).toFixed(1)} MB`).toBeLessThan(10 * 1024 * 1024);
    // No bound on the time taken: a busy machine may be slow (benchmarks live in bench/).
  }, 180_000);
});

describe('events that cannot be sent', () => {
  it('rejects unserialisable data with DataSerializationError and keeps delivering', async () => {
    const fx = await setup();
    const errors: Array<[Error, ErrorContext]> = [];
    fx.ev.on('error', (err, ctx) => errors.push([err, ctx]));
    const c = await fx.client('channel=c', 'c');

    const circular: Record<string, unknown> = { name: 'loop' };
    circular.self = circular;
    const throwing = {
      toJSON() {
        throw new Error('nope');
      },
    };
    const bad: unknown[] = [circular, { n: 10n }, throwing, () => 1, Symbol('s')];
    for (const data of bad) {
      const p = fx.ev.publish('c', { event: 'bad', data });
      await expect(p).rejects.toBeInstanceOf(DataSerializationError);
      await expect(p).rejects.toMatchObject({ code: 'ERR_SSE_DATA_NOT_SERIALIZABLE' });
    }
    expect(errors).toHaveLength(bad.length);
    expect(errors[0]![0]).toBeInstanceOf(DataSerializationError);
    expect(errors[0]![1]).toMatchObject({ channel: 'c' });
    expect(fx.ev.stats().publishErrors).toBe(bad.length);
    expect(fx.ev.stats().eventsPublished).toBe(0);

    // Valid events published in the same tick as a bad one still go out, in one write.
    const writesBefore = tap(fx, 'c').writes.length;
    const first = fx.ev.publish('c', { event: 'ok', data: 1 });
    const broken = fx.ev.publish('c', { event: 'ok', data: { n: 2n } });
    const second = fx.ev.publish('c', { event: 'ok', data: 3 });
    await expect(broken).rejects.toBeInstanceOf(DataSerializationError);
    await Promise.all([first, second]);
    await c.waitFor((x) => x.events.length === 3, 5000, 'the two good events');
    expect(c.body).toBe(STREAM_OPEN + wire('ok', 1) + wire('ok', 3));
    expect(tap(fx, 'c').writes.length - writesBefore).toBe(1);
  });

  it('rejects invalid events with InvalidEventError and writes nothing for them', async () => {
    const fx = await setup();
    const c = await fx.client('channel=c', 'c');
    const writesBefore = tap(fx, 'c').writes.length;
    const invalid: Array<[unknown, string]> = [
      [{ event: 'a\nb', data: 1 }, 'event'],
      [{ event: 'a\rb', data: 1 }, 'event'],
      [{ event: '', data: 1 }, 'event'],
      [{ event: 'x', id: 'a\0b', data: 1 }, 'id'],
      [{ event: 'x', id: 'a\nb', data: 1 }, 'id'],
      [{ event: 'x', retry: -1 }, 'retry'],
      [{ event: 'x', retry: 1.5 }, 'retry'],
      [{ event: 'x', retry: 'x' }, 'retry'],
      [{ event: 'x', retry: Number.NaN }, 'retry'],
      [{ event: 'x', data: 1, colour: 'red' }, 'colour'],
      [{ event: 'x', data: 5, raw: true }, 'data'],
      [null, 'event'],
      ['just a string', 'event'],
      [[{ event: 'x' }], 'event'],
    ];
    for (const [input, field] of invalid) {
      const p = fx.ev.publish('c', input as EventInput);
      await expect(p, JSON.stringify(input)).rejects.toBeInstanceOf(InvalidEventError);
      await expect(p).rejects.toMatchObject({ code: 'ERR_SSE_INVALID_EVENT', field });
    }
    // Flush a sentinel: everything written since is exactly the sentinel.
    await fx.ev.publish('c', { event: 'sentinel', data: 'end' });
    await c.waitFor((x) => x.events.length === 2, 5000, 'sentinel');
    expect(c.body).toBe(STREAM_OPEN + wire('sentinel', 'end'));
    expect(tap(fx, 'c').writes.length - writesBefore).toBe(1);
    expect(fx.ev.stats()).toMatchObject({ publishErrors: invalid.length, eventsPublished: 1 });
  });
});

describe('stats and lifecycle', () => {
  it('counts connections and deliveries, emits connect/disconnect, and close() ends everything', async () => {
    const fx = await setup();
    const log: string[] = [];
    fx.ev.on('connect', (i) => log.push(`connect ${i.channels.join('+')}`));
    fx.ev.on('disconnect', (i) => log.push(`disconnect ${i.channels.join('+')} ${i.reason}`));
    expect(fx.ev.stats()).toMatchObject({
      connections: 0,
      subscribers: {},
      connectionsOpened: 0,
      eventsPublished: 0,
      eventsDelivered: 0,
      bytesDelivered: 0,
      slowClientsDropped: 0,
      publishErrors: 0,
    });

    const one = await fx.client('channel=a', 'one');
    const two = await fx.client('channel=a&channel=b', 'two');
    const three = await fx.client('channel=b', 'three');
    expect(log).toEqual(['connect a', 'connect a+b', 'connect b']);
    expect(fx.ev.stats()).toMatchObject({
      connections: 3,
      subscribers: { a: 2, b: 2 },
      connectionsOpened: 3,
    });

    await Promise.all([
      fx.ev.publish('a', { event: 'e', data: 1 }),
      fx.ev.publish('b', { event: 'e', data: 2 }),
      fx.ev.publish('nobody', { event: 'e', data: 3 }),
    ]);
    await fx.ev.publish('a', { event: 'e', data: 4 });
    await one.waitFor((x) => x.events.length === 3, 5000, 'one');
    await two.waitFor((x) => x.events.length === 4, 5000, 'two');
    await three.waitFor((x) => x.events.length === 2, 5000, 'three');
    const bodies = [one, two, three].reduce((n, c) => n + Buffer.byteLength(c.body), 0);
    expect(fx.ev.stats()).toMatchObject({
      eventsPublished: 4,
      eventsDelivered: 2 + 3 + 1,
      bytesDelivered: bodies,
      publishErrors: 0,
    });

    one.close();
    await until(() => fx.ev.stats().connections === 2, 5000, 'client one to go');
    expect(log.at(-1)).toBe('disconnect a client');
    expect(fx.ev.stats().subscribers).toEqual({ a: 1, b: 2 });

    await fx.ev.close();
    expect(fx.ev.closed).toBe(true);
    await two.waitFor((x) => x.ended, 5000, 'stream two to end');
    await three.waitFor((x) => x.ended, 5000, 'stream three to end');
    expect(log.slice(-2).sort()).toEqual(['disconnect a+b server', 'disconnect b server']);
    expect(fx.ev.stats()).toMatchObject({ connections: 0, subscribers: {}, connectionsOpened: 3 });

    await expect(fx.ev.publish('a', { event: 'e', data: 5 })).rejects.toBeInstanceOf(EventsClosedError);
    await expect(fx.ev.channel('a').publish({ event: 'e', data: 5 })).rejects.toMatchObject({
      code: 'ERR_SSE_CLOSED',
    });
    expect(fx.ev.stats()).toMatchObject({ eventsPublished: 4, publishErrors: 2 });
    await fx.ev.close(); // idempotent

    // A request after close() gets a stream that ends at once, and no lifecycle events.
    const logged = log.length;
    const late = await connect(fx.server.url('/?channel=a'));
    await late.waitFor((x) => x.ended, 5000, 'late stream to end');
    expect(log.length).toBe(logged);
    expect(fx.ev.stats()).toMatchObject({ connections: 0, connectionsOpened: 3 });
  });

  it('emits error for rejected publishes only to listeners and never throws without one', async () => {
    const fx = await setup();
    expect(fx.ev.listenerCount('error')).toBe(0);
    await expect(fx.ev.publish('bad,name', { event: 'x' })).rejects.toMatchObject({
      code: 'ERR_SSE_INVALID_CHANNEL',
    });
    const seen: Array<[Error, ErrorContext]> = [];
    fx.ev.on('error', (err, ctx) => seen.push([err, ctx]));
    const input = { event: 'x\ny' };
    await expect(fx.ev.publish('ok', input)).rejects.toBeInstanceOf(InvalidEventError);
    expect(seen).toHaveLength(1);
    expect(seen[0]![0]).toBeInstanceOf(InvalidEventError);
    expect(seen[0]![1]).toEqual({ channel: 'ok', event: input });
  });
});
