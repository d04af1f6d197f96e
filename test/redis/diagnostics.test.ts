// Diagnostics channels with a shared bus (RedisBus on a real redis-server): every batch the bus
// delivers emits `deliver` (this process' events with their publish → delivery time, another
// process' without), and every stream-reset the bus causes emits `reset` via `bus`, once per
// stream, counted in stats() and in the Prometheus metrics like a resume's.
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createHandler,
  type DiagnosticsMessages,
  type Events,
  events,
  onDiagnostics,
} from '../../src/index.js';
import { metrics } from '../../src/integrations/metrics/index.js';
import { type RedisStore, redisBus, redisStore } from '../../src/integrations/redis/index.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type SseClient, until } from '../helpers/sse-client.js';

let redis: RedisInstance;
let n = 0;
const ns = () => `d${process.pid}x${++n}`;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface Origin {
  ev: Events;
  store: RedisStore;
  server: TestServer;
  deliver: DiagnosticsMessages['deliver'][];
  reset: DiagnosticsMessages['reset'][];
  registry: Registry;
  /** A stream on `channels` whose stream-open arrived (its channels are placed on the bus). */
  open(...channels: string[]): Promise<SseClient>;
}

/** Events with a Redis history and RedisBus, served over HTTP, its deliver/reset messages recorded. */
async function origin(url: string, namespace: string): Promise<Origin> {
  const store = redisStore({ url, namespace });
  const ev = events({ name: namespace, history: store, bus: redisBus({ store }), keepAlive: false });
  ev.on('error', () => {});
  const handler = createHandler({ events: ev });
  const server = await startServer((req, res) => handler(req, res));
  const registry = new Registry();
  const m = metrics({ registry, events: ev });
  const deliver: Origin['deliver'] = [];
  const reset: Origin['reset'] = [];
  const offs = [
    onDiagnostics('deliver', (msg) => {
      if (msg.source === ev) deliver.push(msg);
    }),
    onDiagnostics('reset', (msg) => {
      if (msg.source === ev) reset.push(msg);
    }),
  ];
  cleanups.push(async () => {
    for (const off of offs) off();
    m.close();
    await ev.close();
    await server.close();
    await store.close();
  });
  return {
    ev,
    store,
    server,
    deliver,
    reset,
    registry,
    async open(...channels) {
      const c = await connect(server.url(`/?${channels.map((ch) => `channel=${ch}`).join('&')}`));
      cleanups.push(() => c.close());
      await c.waitFor((x) => x.named('stream-open').length === 1, 10_000, 'stream-open');
      return c;
    },
  };
}

/** One sample's value (summed over the other labels) from the text exposition. */
async function sample(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  let sum = 0;
  for (const line of (await registry.metrics()).split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const has = Object.entries(labels).every(([k, v]) => m[2]!.includes(`${k}="${v}"`));
    if (has) sum += Number(m[3]);
  }
  return sum;
}

const total = (list: readonly DiagnosticsMessages['deliver'][], key: 'events' | 'deliveries') =>
  list.reduce((s, m) => s + m[key], 0);

describe('diagnostics with a RedisBus', () => {
  it("deliver fires for every batch the bus delivers: this process' events with durationMs, another process' without", async () => {
    const namespace = ns();
    const o = await origin(redis.url, namespace);
    const c1 = await o.open('a');
    const c2 = await o.open('a', 'b');

    // Published here in one tick: the bus delivers them from Redis (one message per channel).
    await Promise.all([
      o.ev.publish('a', { event: 'x', data: 1 }),
      o.ev.publish('b', { event: 'y', data: 2 }),
      o.ev.publish('a', { event: 'z', data: 3 }),
    ]);
    await c2.waitFor((x) => x.named('x').length + x.named('y').length + x.named('z').length === 3);
    const own = o.deliver.splice(0);
    expect(own.length).toBeGreaterThanOrEqual(1);
    expect(total(own, 'events')).toBe(3);
    expect(total(own, 'deliveries')).toBe(5); // c1: a, a; c2: all three
    for (const m of own) {
      expect(Object.keys(m).sort()).toEqual(
        ['bytes', 'deliveries', 'durationMs', 'events', 'namespace', 'source'].sort(),
      );
      expect(m.durationMs).toBeGreaterThanOrEqual(0);
      expect(m.bytes).toBeGreaterThan(0);
    }

    // Another process appends to the same history: delivered here, with no publish time known.
    const other = redisStore({ url: redis.url, namespace });
    cleanups.push(() => other.close());
    await other.append([{ channel: 'a', body: 'event: w\ndata: 4\n\n' }]);
    await c1.waitFor((x) => x.named('w').length === 1, 10_000, 'the other process event');
    await c2.waitFor((x) => x.named('w').length === 1, 10_000, 'the other process event');
    await until(() => o.deliver.length === 1, 5000, 'its deliver message');
    const foreign = o.deliver[0]!;
    expect(foreign).toMatchObject({ namespace, events: 1, deliveries: 2 });
    expect(foreign.bytes).toBe(2 * Buffer.byteLength(c1.body.slice(c1.body.lastIndexOf('id: '))));
    expect('durationMs' in foreign).toBe(false);

    // Metrics count both; the duration histogram only this process' batches.
    const stats = o.ev.stats();
    expect(await sample(o.registry, 'express_eventstream_events_delivered_total', { namespace })).toBe(7);
    expect(stats.eventsDelivered).toBeGreaterThanOrEqual(7);
    expect(
      await sample(o.registry, 'express_eventstream_delivery_duration_seconds_count', { namespace }),
    ).toBe(own.length);
  });

  it('reset from the bus (retention dropped events it had not delivered): one message per stream-reset, via bus', async () => {
    const namespace = ns();
    const o = await origin(redis.url, namespace);
    const ca = await o.open('a');
    const cab = await o.open('a', 'b');
    const cb = await o.open('b');
    await o.ev.publish('a', { data: 1 });
    await cab.waitFor((x) => x.named('message').length === 1);
    const resetsBefore = o.ev.stats().streamResets;
    // Five events on a that the (sharded) bus never hears, of which retention keeps two.
    const silent = redisStore({ url: redis.url, namespace, pubsub: 'classic', maxEventsPerChannel: 2 });
    cleanups.push(() => silent.close());
    await silent.append(Array.from({ length: 5 }, (_, i) => ({ channel: 'a', body: `data: s${i}\n\n` })));
    await o.ev.publish('a', { data: 2 }); // reveals the gap; the catch-up finds it expired
    await ca.waitFor((x) => x.named('stream-reset').length === 1, 10_000, 'reset on a');
    await cab.waitFor((x) => x.named('stream-reset').length === 1, 10_000, 'reset on a,b');
    await until(() => o.reset.length === 2, 5000, 'two reset messages');
    expect(o.reset.map((m) => Object.keys(m).sort())).toEqual(
      Array(2).fill(['channels', 'namespace', 'reason', 'source', 'via']),
    );
    expect(o.reset.map(({ channels, reason, via }) => ({ channels, reason, via }))).toEqual([
      { channels: ['a'], reason: 'expired', via: 'bus' },
      { channels: ['a'], reason: 'expired', via: 'bus' },
    ]);
    expect(cb.named('stream-reset')).toEqual([]);
    expect(o.ev.stats().streamResets - resetsBefore).toBe(2);
    expect(
      await sample(o.registry, 'express_eventstream_stream_resets_total', {
        namespace,
        reason: 'expired',
        via: 'bus',
      }),
    ).toBe(2);
  });

  it('reset from the bus when Redis lost its data (new epoch): unknown-id for each stream, with its channels', async () => {
    const own = await startRedis();
    cleanups.push(() => own.stop());
    const namespace = ns();
    const o = await origin(own.url, namespace);
    const cab = await o.open('a', 'b');
    const cb = await o.open('b');
    const cc = await o.open('c');
    await o.ev.publish('a', { data: 1 });
    await cab.waitFor((x) => x.named('message').length === 1);
    own.cli('FLUSHALL');
    await o.ev.publish('b', { data: 2 }); // the new epoch shows on the bus
    await cab.waitFor((x) => x.named('stream-reset').length === 1, 10_000, 'reset on a,b');
    await cb.waitFor((x) => x.named('stream-reset').length === 1, 10_000, 'reset on b');
    await cc.waitFor((x) => x.named('stream-reset').length === 1, 10_000, 'reset on c');
    await until(() => o.reset.length === 3, 5000, 'three reset messages');
    const byChannels = o.reset
      .map(({ channels, reason, via }) => ({ channels: [...channels].sort(), reason, via }))
      .sort((x, y) => x.channels.join().localeCompare(y.channels.join()));
    expect(byChannels).toEqual([
      { channels: ['a', 'b'], reason: 'unknown-id', via: 'bus' },
      { channels: ['b'], reason: 'unknown-id', via: 'bus' },
      { channels: ['c'], reason: 'unknown-id', via: 'bus' },
    ]);
    expect(
      await sample(o.registry, 'express_eventstream_stream_resets_total', {
        namespace,
        reason: 'unknown-id',
        via: 'bus',
      }),
    ).toBe(3);
  });
});
