// Data the library did not write, in its Redis keys: a failed append stores nothing and moves no
// sequence number, a foreign epoch never reaches the wire, a foreign stream entry never corrupts
// a replay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, type Events, events } from '../../src/index.js';
import { RedisDataError, type RedisStore, redisStore } from '../../src/integrations/redis/index.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect } from '../helpers/sse-client.js';

let redis: RedisInstance;
let n = 0;
const ns = () => `d${process.pid}x${++n}`;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

interface Rig {
  namespace: string;
  key: (suffix: string) => string;
  store: RedisStore;
  ev: Events;
  http: TestServer;
  close(): Promise<void>;
}

async function rig(): Promise<Rig> {
  const namespace = ns();
  const store = redisStore({ url: redis.url, namespace });
  const ev = events({ history: store, keepAlive: false });
  ev.on('error', () => {});
  const http = await startServer(createHandler({ events: ev }));
  return {
    namespace,
    key: (suffix) => `ees:{${namespace}}:${suffix}`,
    store,
    ev,
    http,
    async close() {
      await ev.close();
      await http.close();
      await store.close();
    },
  };
}

const settle = (p: Promise<void>) =>
  p.then(
    () => 'resolved',
    (err: unknown) => err,
  );

describe('foreign data in the Redis keys', () => {
  it('a key of the wrong type among a group: every publish of it rejects naming the key, nothing is stored, the sequence is unchanged', async () => {
    const r = await rig();
    try {
      await r.ev.publish('good', { data: 'before' });
      redis.cli('SET', r.key('h:bad'), 'x');
      // One turn: both go in one append.
      const [good, bad] = await Promise.all([
        settle(r.ev.publish('good', { data: 'lost' })),
        settle(r.ev.publish('bad', { data: 'lost' })),
      ]);
      for (const outcome of [good, bad]) {
        expect(outcome).toMatchObject({
          code: 'ERR_SSE_STORE',
          cause: { code: 'ERR_SSE_REDIS_DATA', key: r.key('h:bad') },
        });
      }
      expect((good as { cause: unknown }).cause).toBeInstanceOf(RedisDataError);
      expect(redis.cli('GET', r.key('seq'))).toBe('1');
      expect(redis.cli('XLEN', r.key('h:good'))).toBe('1');
      expect(redis.cli('GET', r.key('h:bad'))).toBe('x');
      // The next append without the bad key continues the sequence without a hole.
      await r.ev.publish('good', { data: 'after' });
      const read = await r.store.readAfter(['good'], 0);
      expect(read.records.map((rec) => [rec.seq, rec.body])).toEqual([
        [1, 'data: "before"\n\n'],
        [2, 'data: "after"\n\n'],
      ]);
    } finally {
      await r.close();
    }
  });

  it('an entry at or above the next id (XADD would fail mid-append): nothing is stored, the sequence is unchanged', async () => {
    const r = await rig();
    try {
      await r.ev.publish('good', { data: 'before' });
      redis.cli('XADD', r.key('h:top'), '999-0', 'foo', 'bar');
      const outcomes = await Promise.all([
        settle(r.ev.publish('good', { data: 'lost' })),
        settle(r.ev.publish('top', { data: 'lost' })),
      ]);
      for (const outcome of outcomes) {
        expect(outcome).toMatchObject({ cause: { code: 'ERR_SSE_REDIS_DATA', key: r.key('h:top') } });
      }
      expect(redis.cli('GET', r.key('seq'))).toBe('1');
      expect(redis.cli('XLEN', r.key('h:good'))).toBe('1');
      expect(redis.cli('HGET', r.key('last'), 'good')).toBe('1');
    } finally {
      await r.close();
    }
  });

  it('a foreign epoch never reaches the wire: streams fail, publishes reject naming the key', async () => {
    const r = await rig();
    try {
      redis.cli('SET', r.key('epoch'), 'x\nevent: injected\ndata: 1\n\nid: y');
      const client = await connect(r.http.url('/?channel=c'));
      await client.waitFor((c) => c.ended, 5000, 'the stream to end');
      expect(client.body).not.toContain('injected');
      expect(client.named('stream-open')).toEqual([]);
      const failure = await settle(r.ev.publish('c', { data: 1 }));
      expect(failure).toMatchObject({ cause: { code: 'ERR_SSE_REDIS_DATA', key: r.key('epoch') } });
      expect(redis.cli('EXISTS', r.key('seq'))).toBe('0');
      await expect(r.store.epoch()).rejects.toMatchObject({ code: 'ERR_SSE_REDIS_DATA' });
    } finally {
      await r.close();
    }
  });

  it('a foreign entry in a history stream: a replay skips it and loses nothing', async () => {
    const r = await rig();
    try {
      await r.ev.publish('other', { data: 0 });
      redis.cli('XADD', r.key('h:a'), '1-1', 'foo', 'bar');
      for (let i = 1; i <= 5; i++) await r.ev.publish('a', { data: i });
      const epoch = await r.store.epoch();
      const client = await connect(r.http.url('/?channel=a'), {
        accept: 'text/event-stream',
        'last-event-id': `${epoch}-0`,
      });
      await client.waitFor((c) => c.named('message').length === 5);
      expect(client.named('message').map((m) => [m.id, m.data])).toEqual(
        [2, 3, 4, 5, 6].map((seq, i) => [`${epoch}-${seq}`, String(i + 1)]),
      );
      expect(client.body).not.toContain('undefined');
      expect(JSON.parse(client.named('stream-open')[0]!.data)).toEqual({ replayed: 5 });
      // Paged reads (the bus' and large replays') skip it too, without stopping short.
      const paged = await r.store.readAfter(['a'], 0, 2);
      expect(paged.records.map((rec) => rec.seq)).toEqual([2, 3]);
      client.close();
    } finally {
      await r.close();
    }
  });
});
