// The scripts and the bus on a real 3-master Redis Cluster: every key and pub/sub channel of a
// namespace carries the hash tag `{ns}`, so one namespace lives on one shard and its scripts run
// there; sharded pub/sub reaches only that shard. The engine's control channel and shared state
// follow the same rule.
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EncodedEvent } from '../../src/base/types.js';
import { events } from '../../src/index.js';
import { redisBus, redisControl, redisState, redisStore } from '../../src/integrations/redis/index.js';
import { type RedisCluster, startRedisCluster } from '../helpers/redis.js';
import { until } from '../helpers/sse-client.js';

let cluster: RedisCluster;
let client: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  client = new Cluster([...cluster.startupNodes], { redisOptions: { maxRetriesPerRequest: 1 } });
  client.on('error', () => {});
});
afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

describe('Redis Cluster', () => {
  it('appends, reads and delivers through sharded pub/sub for namespaces on different shards', async () => {
    // Two namespaces whose tags hash to slots owned by different masters.
    await client.ping();
    const owners = new Map<string, string>();
    for (let i = 0; owners.size < 2 && i < 100; i++) {
      const ns = `ns${i}`;
      const slot = Number(cluster.nodes[0]!.cli('CLUSTER', 'KEYSLOT', `{${ns}}`));
      const owner = String(client.slots[slot]?.[0]);
      if (![...owners.values()].includes(owner)) owners.set(ns, owner);
    }
    expect(owners.size).toBe(2);
    for (const namespace of owners.keys()) {
      const store = redisStore({ client, namespace });
      const got: EncodedEvent[] = [];
      const bus = redisBus({ store });
      await bus.start({ deliver: (batch) => got.push(...batch) });
      await Promise.all([bus.subscribe('a'), bus.subscribe('b')]);
      // The subscriptions live on the shard that owns the namespace, and only there.
      for (const node of cluster.nodes) {
        const channels = node.cli('PUBSUB', 'SHARDCHANNELS').split('\n').filter(Boolean).sort();
        const owns = owners.get(namespace) === `127.0.0.1:${node.port}`;
        expect(channels).toEqual(owns ? [`ees:{${namespace}}:p:a`, `ees:{${namespace}}:p:b`] : []);
      }
      const appended = await store.append([
        { channel: 'a', body: 'data: 1\n\n' },
        { channel: 'b', body: 'data: 2\n\n' },
        { channel: 'a', body: 'data: 3\n\n' },
      ]);
      expect(appended.events).toEqual([
        { seq: 1, prevSeq: 0 },
        { seq: 2, prevSeq: 0 },
        { seq: 3, prevSeq: 1 },
      ]);
      await until(() => got.length === 3, 10_000, 'three events over sharded pub/sub');
      expect(got.map((e) => e.id)).toEqual([1, 2, 3].map((s) => `${appended.epoch}-${s}`));
      const read = await store.readAfter(['a', 'b'], 1, 1);
      expect(read.records.map((r) => r.seq)).toEqual([2]);
      await bus.close();
    }
  });
});

describe('Redis Cluster: control messages and shared state', () => {
  it('two Events objects on one namespace exchange control messages over sharded pub/sub and share state', async () => {
    const namespace = `ctl${process.pid}`;
    const setups = [0, 1].map(() => {
      const store = redisStore({ client, namespace });
      return events({
        history: store,
        bus: redisBus({ store }),
        control: redisControl({ store }),
        state: redisState({ store }),
        keepAlive: false,
      });
    });
    type Engine = {
      control: {
        send(t: string, p: unknown): Promise<void>;
        on(t: string, h: (p: unknown) => void): () => void;
      };
      state: {
        put(s: string, k: string, v: string, t: number): Promise<void>;
        count(s: string): Promise<number>;
      };
    };
    const [a, b] = setups.map(
      (ev) =>
        (ev as unknown as Record<symbol, { engine: Engine }>)[Symbol.for('express-eventstream.core')]!.engine,
    ) as [Engine, Engine];
    try {
      const got: unknown[] = [];
      b.control.on('t', (p) => got.push(p));
      // Until b hears a: both subscribed on the shard that owns the namespace.
      for (let i = 0; got.length === 0 && i < 200; i++) {
        await a.control.send('t', 'hello');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(got.length).toBeGreaterThan(0);
      got.length = 0;
      for (let i = 0; i < 50; i++) await a.control.send('t', i);
      await until(() => got.length === 50, 10_000, '50 messages');
      expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
      await a.state.put('room', 'x', '1', 60_000);
      await b.state.put('room', 'y', '2', 60_000);
      expect(await a.state.count('room')).toBe(2);
    } finally {
      await Promise.all(setups.map((ev) => ev.close()));
    }
  });
});
