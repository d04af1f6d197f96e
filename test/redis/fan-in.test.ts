// Response streams on the Redis bus: every stream's chunks of an append go out as one message on
// the namespace's stream pub/sub channel; each bus delivers only the streams read on its process,
// and a message on that channel is checked as foreign data before anything of it is delivered.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EncodedEvent } from '../../src/base/types.js';
import { type RedisBus, type RedisStore, redisBus, redisStore } from '../../src/integrations/redis/index.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { until } from '../helpers/sse-client.js';

let redis: RedisInstance;
let n = 0;
const ns = () => `sb${process.pid}x${++n}`;
const body = (i: number | string) => `data: ${i}\n\n`;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

async function busOn(namespace: string, channels: string[]) {
  const store = redisStore({ url: redis.url, namespace });
  const errors: Error[] = [];
  const bus: RedisBus = redisBus({ store, onError: (e) => errors.push(e), checkIntervalMs: false });
  const got: EncodedEvent[] = [];
  await bus.start({ deliver: (batch) => got.push(...batch), reset: () => {} });
  await Promise.all(channels.map((c) => bus.subscribe(c)));
  return {
    store,
    bus,
    got,
    errors,
    close: async () => {
      await bus.close();
      await store.close();
    },
  };
}

const shardChannels = (namespace: string) =>
  redis
    .cli('PUBSUB', 'SHARDCHANNELS', `ees:{${namespace}}:*`)
    .split('\n')
    .filter((l) => l !== '')
    .sort();

describe('response streams on the Redis bus', () => {
  it('one message per append for all streams; each bus delivers only its streams, in order, once; one subscription', async () => {
    const namespace = ns();
    const h = await busOn(namespace, ['~stream/a', '~stream/b', 'news']);
    const producer: RedisStore = redisStore({ url: redis.url, namespace });
    const spy = new Redis(redis.url);
    spy.on('error', () => {});
    const messages: string[] = [];
    try {
      expect(shardChannels(namespace)).toEqual([`ees:{${namespace}}:p:news`, `ees:{${namespace}}:s`]);
      spy.on('smessage', (_name: string, payload: string) => messages.push(payload));
      await spy.ssubscribe(`ees:{${namespace}}:s`);
      // 1,000 streams, two chunks each, in one append: one message on the stream channel.
      const items = [];
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 1000; i++) items.push({ channel: `~stream/s${i}`, body: body(`${round}-${i}`) });
      }
      await producer.append(items);
      await until(() => messages.length === 1, 5000, 'the stream message');
      // Interleaved with an application channel: the runs keep the seq order across channels.
      await producer.append([
        { channel: '~stream/a', body: body('a1') },
        { channel: '~stream/c', body: body('c1') },
        { channel: 'news', body: body('n1') },
        { channel: '~stream/b', body: body('b1') },
        { channel: '~stream/a', body: body('a2') },
      ]);
      await until(() => h.got.length === 4, 5000, 'four events');
      expect(h.got.map((e) => [e.channel, e.text.split('\n')[1]])).toEqual([
        ['~stream/a', 'data: a1'],
        ['news', 'data: n1'],
        ['~stream/b', 'data: b1'],
        ['~stream/a', 'data: a2'],
      ]);
      const seqs = h.got.map((e) => e.seq!);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(h.got[3]!.prevId).toBe(h.got[0]!.id);
      expect(messages.length).toBe(3); // the 2,000 chunks; [a1, c1]; [b1, a2]
      expect(h.errors).toEqual([]);
      await spy.sunsubscribe(`ees:{${namespace}}:s`);
      // The stream channel stays subscribed while any stream is read here.
      h.bus.unsubscribe('~stream/a');
      await producer.append([{ channel: '~stream/b', body: body('b2') }]);
      await until(() => h.got.length === 5, 5000, 'b2');
      expect(shardChannels(namespace)).toContain(`ees:{${namespace}}:s`);
      h.bus.unsubscribe('~stream/b');
      await until(
        () => !shardChannels(namespace).includes(`ees:{${namespace}}:s`),
        5000,
        'the stream channel left',
      );
      expect(shardChannels(namespace)).toEqual([`ees:{${namespace}}:p:news`]);
    } finally {
      spy.disconnect();
      await producer.close();
      await h.close();
    }
  });

  it('a malformed message on the stream channel is dropped whole, reported, and never delivered', async () => {
    const namespace = ns();
    const h = await busOn(namespace, ['~stream/a', 'news']);
    try {
      await h.store.append([{ channel: '~stream/a', body: body(1) }]);
      await until(() => h.got.length === 1, 5000, 'first event');
      const epoch = h.got[0]!.id!.split('-')[0]!;
      const name = `ees:{${namespace}}:s`;
      const forged = [
        'not json',
        JSON.stringify({ epoch }),
        JSON.stringify([epoch, '~stream/a', '2', '1']), // no body: wrong width
        JSON.stringify(['EPOCH!', '~stream/a', '2', '1', body('x')]),
        JSON.stringify([epoch, 'news', '2', '0', body('into news')]), // not a stream's channel
        JSON.stringify([epoch, '~stream/a', 'two', '1', body('x')]),
        JSON.stringify([epoch, '~stream/a', '2', '1.5', body('x')]),
        JSON.stringify([epoch, '~stream/a', '2', '2', body('x')]), // prevSeq not below seq
        JSON.stringify([epoch, '~stream/a', 2, 1, body('x')]), // numbers, not the script's strings
        JSON.stringify([epoch, '~stream/a', '2', '1', { text: 'x' }]),
        // A valid event before a malformed one: the message is dropped whole.
        JSON.stringify([epoch, '~stream/a', '2', '1', body('ok'), '~stream/a', '3', '2', null]),
      ];
      for (const payload of forged) redis.cli('SPUBLISH', name, payload);
      await until(() => h.errors.length === forged.length, 5000, 'every forged message reported');
      expect(h.errors.every((e) => /malformed bus message/.test(e.message))).toBe(true);
      expect(h.got.length).toBe(1);
      // The real next events still arrive, once, chained.
      await h.store.append([
        { channel: 'news', body: body(2) },
        { channel: '~stream/a', body: body(3) },
      ]);
      await until(() => h.got.length === 3, 5000, 'the real events');
      expect(h.got.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(h.got.map((e) => e.text)).not.toContain(expect.stringContaining('into news'));
      expect(h.got[2]!.prevId).toBe(h.got[0]!.id);
    } finally {
      await h.close();
    }
  });

  it('a burst of first uses of a script not loaded yet sends the script once (one EVAL), not once per call', async () => {
    const namespace = ns();
    const store = redisStore({ url: redis.url, namespace });
    const evals = () => Number(/cmdstat_eval:calls=(\d+)/.exec(redis.cli('INFO', 'commandstats'))?.[1] ?? 0);
    try {
      await store.epoch();
      redis.cli('SCRIPT', 'FLUSH');
      const before = evals();
      // 300 appends at once, as 300 streams opening or ending together: all get NOSCRIPT.
      const appended = await Promise.all(
        Array.from({ length: 300 }, (_, i) => store.append([{ channel: `~stream/x${i}`, body: body(i) }])),
      );
      expect(appended.map((a) => a.events[0]!.seq).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 300 }, (_, i) => i + 1),
      );
      expect(evals() - before).toBe(1);
    } finally {
      await store.close();
    }
  });
});
