// RedisBus against a real redis-server: per-channel subscriptions, order across channels,
// exactly-once delivery through dropped connections, lost pub/sub messages, epoch changes and
// Redis restarts.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EncodedEvent } from '../../src/base/types.js';
import { type RedisBus, type RedisStore, redisBus, redisStore } from '../../src/integrations/redis/index.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { until } from '../helpers/sse-client.js';

let redis: RedisInstance;
let n = 0;
const ns = () => `b${process.pid}x${++n}`;
const body = (i: number | string) => `data: ${i}\n\n`;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

interface Harness {
  store: RedisStore;
  bus: RedisBus;
  got: EncodedEvent[];
  resets: Array<{ channels: string[]; reason: string }>;
  errors: Error[];
  close(): Promise<void>;
}

async function busOn(
  url: string,
  namespace: string,
  channels: string[],
  checkIntervalMs: number | false = false,
): Promise<Harness> {
  const store = redisStore({ url, namespace });
  const errors: Error[] = [];
  const bus = redisBus({ store, onError: (e) => errors.push(e), checkIntervalMs });
  const got: EncodedEvent[] = [];
  const resets: Harness['resets'] = [];
  await bus.start({
    deliver: (batch) => got.push(...batch),
    reset: (c, reason) => resets.push({ channels: c, reason }),
  });
  await Promise.all(channels.map((c) => bus.subscribe(c)));
  return {
    store,
    bus,
    got,
    resets,
    errors,
    close: async () => {
      await bus.close();
      await store.close();
    },
  };
}

/** Every delivered event once, in seq order, each channel chained by prevId. */
function expectOrderedOnce(got: readonly EncodedEvent[]) {
  const seqs = got.map((e) => e.seq!);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  expect(new Set(seqs).size).toBe(seqs.length);
  const last = new Map<string, string>();
  for (const e of got) {
    if (last.has(e.channel)) expect(e.prevId).toBe(last.get(e.channel));
    last.set(e.channel, e.id!);
  }
}

function runWorker(env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [new URL('./fixtures/worker.mjs', import.meta.url).pathname], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}`))));
  });
}

describe('redisBus', () => {
  it('delivers events of subscribed channels from other processes once, in seq order, and subscribes only those', async () => {
    const namespace = ns();
    const h = await busOn(redis.url, namespace, ['a', 'b']);
    try {
      // Only the channels with local subscribers have Redis subscriptions (sharded).
      const shard = redis.cli('PUBSUB', 'SHARDCHANNELS', `ees:{${namespace}}:p:*`).split('\n').sort();
      expect(shard).toEqual([`ees:{${namespace}}:p:a`, `ees:{${namespace}}:p:b`]);
      await Promise.all(
        ['w1', 'w2'].map((w) =>
          runWorker({ MODE: 'append', REDIS_URL: redis.url, NS: namespace, WORKER: w, COUNT: '150' }),
        ),
      );
      // 300 events on a/b/c round robin: 200 on a and b.
      await until(() => h.got.length >= 200, 10_000, '200 events');
      expectOrderedOnce(h.got);
      expect(new Set(h.got.map((e) => e.channel))).toEqual(new Set(['a', 'b']));
      const stored = await h.store.readAfter(['a', 'b'], 0);
      expect(h.got.map((e) => e.text)).toEqual(
        stored.records.map((r) => `id: ${stored.epoch}-${r.seq}\n${r.body}`),
      );
      expect(h.errors).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('publish() resolves once the appended events were delivered here, and delivers them once', async () => {
    const h = await busOn(redis.url, ns(), ['a']);
    try {
      const { epoch, events } = await h.store.append([
        { channel: 'a', body: body(1) },
        { channel: 'z', body: body(2) },
      ]);
      await h.bus.publish([
        {
          channel: 'a',
          id: `${epoch}-1`,
          seq: events[0]!.seq,
          event: undefined,
          text: '',
          bytes: Buffer.alloc(0),
        },
        {
          channel: 'z',
          id: `${epoch}-2`,
          seq: events[1]!.seq,
          event: undefined,
          text: '',
          bytes: Buffer.alloc(0),
        },
      ]);
      expect(h.got.map((e) => e.id)).toEqual([`${epoch}-1`]);
      expect(h.got[0]!.text).toBe(`id: ${epoch}-1\n${body(1)}`);
    } finally {
      await h.close();
    }
  });

  it('publish() of an event appended before its channel was placed resolves once placed, not at the timeout', async () => {
    // A process's first subscriber on a channel arrives just as it publishes there: the channel's
    // position is read after the append, so the event is never echoed to this bus (the subscriber
    // reads it from the store). Its publish() must resolve then, not wait out the echo timeout.
    const h = await busOn(redis.url, ns(), []);
    try {
      const { epoch, events } = await h.store.append([{ channel: 'late', body: body(1) }]);
      const placed = h.bus.subscribe('late');
      let resolved = false;
      void h.bus
        .publish(
          [
            {
              channel: 'late',
              id: `${epoch}-${events[0]!.seq}`,
              seq: events[0]!.seq,
              event: undefined,
              text: '',
              bytes: Buffer.alloc(0),
            },
          ],
          600_000,
        )
        .then(() => {
          resolved = true;
        });
      await placed;
      await until(() => resolved, 10_000, 'publish() to resolve');
      expect(h.got).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('fills a gap from the store when pub/sub lost messages, before delivering later events', async () => {
    const namespace = ns();
    const h = await busOn(redis.url, namespace, ['a', 'b']);
    // Appends through a classic-pub/sub store are invisible to this sharded bus: lost messages.
    const silent = redisStore({ url: redis.url, namespace, pubsub: 'classic' });
    try {
      await h.store.append([{ channel: 'a', body: body(1) }]);
      await until(() => h.got.length === 1, 5000, 'first event');
      await silent.append([
        { channel: 'b', body: body(2) },
        { channel: 'a', body: body(3) },
      ]);
      const reads = h.bus.stats.storeReads;
      await h.store.append([{ channel: 'a', body: body(4) }]);
      await until(() => h.got.length === 4, 5000, 'four events');
      expect(h.got.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expectOrderedOnce(h.got);
      expect(h.bus.stats.gaps).toBeGreaterThan(0);
      expect(h.bus.stats.storeReads).toBeGreaterThan(reads);
    } finally {
      await silent.close();
      await h.close();
    }
  });

  it('finds a lost event that nothing followed on its channel with the periodic check', async () => {
    const namespace = ns();
    const h = await busOn(redis.url, namespace, ['a'], 100);
    const silent = redisStore({ url: redis.url, namespace, pubsub: 'classic' });
    try {
      await silent.append([{ channel: 'a', body: body(1) }]);
      await until(() => h.got.length === 1, 5000, 'the lost event');
      expect(h.got[0]!.seq).toBe(1);
    } finally {
      await silent.close();
      await h.close();
    }
  });

  it('resets a channel (expired) whose missed events retention dropped before it could catch up', async () => {
    const namespace = ns();
    const h = await busOn(redis.url, namespace, ['a', 'b']);
    const silent = redisStore({ url: redis.url, namespace, pubsub: 'classic', maxEventsPerChannel: 2 });
    try {
      await h.store.append([{ channel: 'a', body: body(1) }]);
      await until(() => h.got.length === 1, 5000, 'first event');
      // Five events on a that this bus never hears; only the last two are kept.
      await silent.append(Array.from({ length: 5 }, (_, i) => ({ channel: 'a', body: body(i + 2) })));
      const { epoch, events } = await h.store.append([
        { channel: 'b', body: body(7) },
        { channel: 'a', body: body(8) },
      ]);
      // Its publish() resolves with the reset that covers 8 (no echo of 8 will ever come).
      let published = false;
      void h.bus
        .publish(
          events.map(({ seq }, i) => ({
            channel: i === 0 ? 'b' : 'a',
            id: `${epoch}-${seq}`,
            seq,
            event: undefined,
            text: '',
            bytes: Buffer.alloc(0),
          })),
          600_000,
        )
        .then(() => {
          published = true;
        });
      await until(() => h.resets.length === 1, 5000, 'a reset');
      await until(() => published, 10_000, 'publish() of the events the reset covers to resolve');
      // Like a resume past retention: the reset stands for everything up to the store's position
      // when it was read (8 included); delivery goes on after it.
      expect(h.resets).toEqual([{ channels: ['a'], reason: 'expired' }]);
      await h.store.append([{ channel: 'a', body: body(9) }]);
      await until(() => h.got.some((e) => e.seq === 9), 5000, 'the event after the reset');
      expect(h.got.map((e) => e.seq)).toEqual([1, 7, 9]);
    } finally {
      await silent.close();
      await h.close();
    }
  });

  it('catches up after CLIENT KILL of its subscriber connection while others publish', async () => {
    const namespace = ns();
    const h = await busOn(redis.url, namespace, ['a', 'b']);
    const other = redisStore({ url: redis.url, namespace });
    try {
      await other.append([{ channel: 'a', body: body(0) }]);
      await until(() => h.got.length === 1, 5000, 'first event');
      const syncs = h.bus.stats.syncs;
      redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
      // Published while the subscriber is away: only the store has these.
      for (let i = 1; i <= 20; i++) await other.append([{ channel: i % 2 ? 'a' : 'b', body: body(i) }]);
      await until(() => h.got.length === 21, 10_000, '21 events');
      await other.append([{ channel: 'b', body: body('live') }]);
      await until(() => h.got.length === 22, 5000, 'a live event after the catch-up');
      expectOrderedOnce(h.got);
      expect(h.got.map((e) => e.seq)).toEqual(Array.from({ length: 22 }, (_, i) => i + 1));
      expect(h.bus.stats.syncs).toBeGreaterThan(syncs);
    } finally {
      await other.close();
      await h.close();
    }
  });

  it('signals unknown-id for its channels when the epoch changes (FLUSHALL), then delivers the new epoch', async () => {
    const namespace = ns();
    const server = await startRedis();
    const h = await busOn(server.url, namespace, ['a', 'b']);
    try {
      const first = await h.store.append([{ channel: 'a', body: body(1) }]);
      await until(() => h.got.length === 1, 5000, 'first event');
      server.cli('FLUSHALL');
      const second = await h.store.append([{ channel: 'b', body: body(2) }]);
      expect(second.epoch).not.toBe(first.epoch);
      await until(() => h.resets.length === 1, 5000, 'a reset');
      expect(h.resets[0]).toEqual({ channels: ['a', 'b'], reason: 'unknown-id' });
      await h.store.append([{ channel: 'a', body: body(3) }]);
      await until(() => h.got.some((e) => e.id === `${second.epoch}-2`), 5000, 'an event of the new epoch');
      expect(h.got.at(-1)!.id).toBe(`${second.epoch}-2`);
    } finally {
      await h.close();
      await server.stop();
    }
  });

  it('after an epoch change, continues from the read that reset its channels: an event appended just after is delivered', async () => {
    const namespace = ns();
    const server = await startRedis();
    const h = await busOn(server.url, namespace, ['e']);
    try {
      const first = await h.store.append([{ channel: 'e', body: body(1) }]);
      await until(() => h.got.length === 1, 5000, 'first event');
      server.cli('FLUSHALL');
      // The bus' first read of the new epoch is followed at once by another append.
      const read = h.store.readPositions.bind(h.store);
      let between: string | undefined;
      h.store.readPositions = async (...args) => {
        const r = await read(...args);
        if (between === undefined && r.epoch !== first.epoch) {
          between = 'pending';
          const { epoch, events } = await h.store.append([{ channel: 'e', body: body('between') }]);
          between = `${epoch}-${events[0]!.seq}`;
        }
        return r;
      };
      const second = await h.store.append([{ channel: 'e', body: body(2) }]);
      await until(() => h.resets.length === 1, 5000, 'a reset');
      expect(h.resets[0]).toEqual({ channels: ['e'], reason: 'unknown-id' });
      await until(() => h.got.some((e) => e.id === between), 5000, 'the event appended after the reset');
      // The reset moved subscribers to the new epoch's head at that read (the second append):
      // everything after it comes, once.
      expect(h.got.slice(1).map((e) => e.id)).toEqual([between]);
      expect(between).toBe(`${second.epoch}-${second.events[0]!.seq + 1}`);
    } finally {
      await h.close();
      await server.stop();
    }
  });

  it('survives Redis being killed and restarted (AOF): errors reported, nothing thrown, then catches up', async () => {
    const server = await startRedis({ aof: true });
    const namespace = ns();
    const h = await busOn(server.url, namespace, ['a']);
    try {
      await h.store.append([{ channel: 'a', body: body(1) }]);
      await until(() => h.got.length === 1, 5000, 'first event');
      await server.kill();
      const failed = await h.store.append([{ channel: 'a', body: body('x') }]).catch((e: unknown) => e);
      expect(failed).toMatchObject({ code: 'ERR_SSE_REDIS' });
      await server.start();
      // Another process publishes as soon as Redis is back; this bus was disconnected meanwhile.
      const other = redisStore({ url: server.url, namespace });
      await other.append([{ channel: 'a', body: body(2) }]);
      await other.append([{ channel: 'a', body: body(3) }]);
      await other.close();
      await until(() => h.got.length === 3, 15_000, 'events after the restart');
      expectOrderedOnce(h.got);
      expect(h.got.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(h.resets).toEqual([]);
    } finally {
      await h.close();
      await server.stop();
    }
  });
});
