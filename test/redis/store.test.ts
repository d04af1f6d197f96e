// RedisStore against a real redis-server: atomic appends from several processes, retention,
// epochs across flushes and restarts, and typed failures while Redis is down.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHandler, events } from '../../src/index.js';
import { RedisStore, redisStore } from '../../src/integrations/redis/index.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { startServer } from '../helpers/server.js';
import { connect, until } from '../helpers/sse-client.js';

let redis: RedisInstance;
let n = 0;
const ns = () => `t${process.pid}x${++n}`;
const body = (i: number | string) => `data: ${i}\n\n`;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

function runWorker(env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [new URL('./fixtures/worker.mjs', import.meta.url).pathname], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker exited ${code}`))));
  });
}

describe('redisStore', () => {
  it('validates its options with typed errors', () => {
    expect(() => redisStore({})).toThrow(expect.objectContaining({ code: 'ERR_SSE_INVALID_OPTION' }));
    expect(() => redisStore({ url: redis.url, namespace: 'a{b}' })).toThrow(
      expect.objectContaining({ option: 'namespace' }),
    );
    expect(() => redisStore({ url: redis.url, maxEventsPerChannel: 0 })).toThrow(
      expect.objectContaining({ option: 'maxEventsPerChannel' }),
    );
  });

  it('assigns one gap-free sequence under concurrent appends from three processes, chained per channel', async () => {
    const namespace = ns();
    await Promise.all(
      ['w1', 'w2', 'w3'].map((w) =>
        runWorker({ MODE: 'append', REDIS_URL: redis.url, NS: namespace, WORKER: w, COUNT: '200' }),
      ),
    );
    const store = redisStore({ url: redis.url, namespace });
    const read = await store.readAfter(['a', 'b', 'c'], 0);
    await store.close();
    expect(read.head).toBe(600);
    expect(read.records.map((r) => r.seq)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    // Each worker's events are stored in the order it appended them.
    for (const w of ['w1', 'w2', 'w3']) {
      const mine = read.records.filter((r) => r.body.startsWith(`data: ${w}:`));
      expect(mine.map((r) => Number(r.body.split(':')[2]))).toEqual(Array.from({ length: 200 }, (_, i) => i));
    }
    // prevSeq chains each channel: the records' own chain, as the bus sees it.
    const chained = await new RedisStore({ url: redis.url, namespace }).readPositions([
      ['a', 0],
      ['b', 0],
      ['c', 0],
    ]);
    const last: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (const r of chained.records) {
      expect(r.prevSeq).toBe(last[r.channel]);
      last[r.channel] = r.seq;
    }
    expect(chained.lastSeq).toEqual(last);
  });

  it('pages with limit, in seq order across channels', async () => {
    const store = redisStore({ url: redis.url, namespace: ns() });
    await store.append(Array.from({ length: 10 }, (_, i) => ({ channel: i % 2 ? 'x' : 'y', body: body(i) })));
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const page = await store.readAfter(['x', 'y'], after, 3);
      if (page.records.length === 0) break;
      seen.push(...page.records.map((r) => r.seq));
      after = page.records.at(-1)!.seq;
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await store.close();
  });

  it('keeps maxEventsPerChannel per channel and reports a gap past them', async () => {
    const store = redisStore({ url: redis.url, namespace: ns(), maxEventsPerChannel: 3 });
    await store.append(Array.from({ length: 5 }, (_, i) => ({ channel: 'k', body: body(i) })));
    await store.append([{ channel: 'other', body: body('o') }]);
    const fromStart = await store.readAfter(['k', 'other'], 0);
    expect(fromStart.gaps).toEqual(['k']);
    expect(fromStart.records.map((r) => r.seq)).toEqual([6]);
    const fromTwo = await store.readAfter(['k'], 2);
    expect(fromTwo.gaps).toEqual([]);
    expect(fromTwo.records.map((r) => r.body)).toEqual([body(2), body(3), body(4)]);
    expect(fromTwo.lastSeq).toEqual({ k: 5 });
    await store.close();
  });

  it('drops events older than maxAgeMs (Redis clock) and reports the gap, also once nothing is left', async () => {
    const store = redisStore({ url: redis.url, namespace: ns(), maxAgeMs: 150 });
    await store.append([{ channel: 'old', body: body(1) }]);
    // Redis' own clock decides: poll until the event has aged out (bounded).
    const deadline = Date.now() + 5000;
    let read = await store.readAfter(['old'], 0);
    while (read.gaps.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      read = await store.readAfter(['old'], 0);
    }
    expect(read).toMatchObject({ gaps: ['old'], records: [], lastSeq: { old: 1 } });
    await store.append([{ channel: 'old', body: body(2) }]);
    const after = await store.readAfter(['old'], 1);
    expect(after).toMatchObject({ gaps: [], records: [{ seq: 2 }] });
    await store.close();
  });

  it('gets a new epoch after FLUSHALL, and clients with older ids a stream-reset unknown-id', async () => {
    const store = redisStore({ url: redis.url, namespace: ns() });
    const ev = events({ history: store, keepAlive: false });
    const server = await startServer(createHandler({ events: ev }));
    try {
      await ev.publish('c', { data: 1 });
      const before = await store.epoch();
      redis.cli('FLUSHALL');
      const after = await store.epoch();
      expect(after).not.toBe(before);
      const client = await connect(server.url('/?channel=c'), {
        accept: 'text/event-stream',
        'last-event-id': `${before}-1`,
      });
      await client.waitFor((c) => c.named('stream-reset').length === 1);
      expect(JSON.parse(client.named('stream-reset')[0]!.data)).toEqual({
        channels: ['c'],
        reason: 'unknown-id',
      });
      client.close();
    } finally {
      await ev.close();
      await server.close();
      await store.close();
    }
  });

  it.each([
    ['count', { maxEventsPerChannel: 2 }],
    ['age', { maxAgeMs: 200 }],
  ] as const)(
    'sends stream-reset expired when the shared history no longer reaches back (retention by %s)',
    async (_by, retention) => {
      const store = redisStore({ url: redis.url, namespace: ns(), ...retention });
      const ev = events({ history: store, keepAlive: false });
      const server = await startServer(createHandler({ events: ev }));
      try {
        for (let i = 0; i < 4; i++) await ev.publish('c', { data: i });
        if ('maxAgeMs' in retention) {
          // Redis' own clock ages the events out: poll the store until they are gone (bounded).
          const deadline = Date.now() + 5000;
          while ((await store.readAfter(['c'], 1)).gaps.length === 0) {
            if (Date.now() > deadline) throw new Error('the events did not age out within 5 s');
            await new Promise((r) => setTimeout(r, 25));
          }
          // One event after the expiry: the history holds it, but not those before.
          await ev.publish('c', { data: 4 });
        }
        const epoch = await store.epoch();
        const client = await connect(server.url('/?channel=c'), {
          accept: 'text/event-stream',
          'last-event-id': `${epoch}-1`,
        });
        await client.waitFor((c) => c.named('stream-reset').length === 1);
        expect(JSON.parse(client.named('stream-reset')[0]!.data)).toEqual({
          channels: ['c'],
          reason: 'expired',
        });
        client.close();
      } finally {
        await ev.close();
        await server.close();
        await store.close();
      }
    },
  );
});

describe('redisStore under a reconnect storm', () => {
  it('20 clients resuming at once from one id make one read of the shared history', async () => {
    const store = redisStore({ url: redis.url, namespace: ns() });
    const ev = events({ history: store, keepAlive: false });
    const server = await startServer(createHandler({ events: ev }));
    const clients: Awaited<ReturnType<typeof connect>>[] = [];
    try {
      for (let i = 0; i < 3; i++) await ev.publish(i % 2 ? 'a' : 'b', { event: 'n', data: i });
      const epoch = await store.epoch();
      // Count the reads that reach Redis; hold every resume at epoch() until all are subscribed.
      let reads = 0;
      const readAfter = store.readAfter.bind(store);
      store.readAfter = (...args) => {
        reads++;
        return readAfter(...args);
      };
      // The gate hands every waiting resume the epoch in the same turn (a real epoch() per
      // client would answer over several turns on a loaded machine, and only reads that start
      // in one turn share a store read).
      const current = await store.epoch();
      let open!: () => void;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      store.epoch = () => gate.then(() => current);
      for (let i = 0; i < 20; i++) {
        clients.push(
          await connect(server.url(i % 2 ? '/?channel=a&channel=b' : '/?channel=b&channel=a'), {
            accept: 'text/event-stream',
            'last-event-id': `${epoch}-0`,
          }),
        );
      }
      await until(() => ev.stats().connections === 20, 5000, 'all subscribed');
      open();
      await ev.publish('a', { event: 'n', data: 3 });
      for (const c of clients) {
        await c.waitFor((x) => x.named('n').length === 4, 5000, 'replay and live event');
        expect(c.named('n').map((e) => Number(e.data))).toEqual([0, 1, 2, 3]);
      }
      expect(reads).toBe(1);
    } finally {
      for (const c of clients) c.close();
      await ev.close();
      await server.close();
      await store.close();
    }
  });
});

describe('redisStore across Redis restarts', () => {
  it('keeps epoch and ids over kill -9 with AOF; a new epoch without AOF', async () => {
    for (const aof of [true, false]) {
      const server = await startRedis({ aof });
      const store = redisStore({ url: server.url, namespace: 'r' });
      try {
        const first = await store.append([{ channel: 'c', body: body(1) }]);
        await server.kill();
        await server.start();
        // The client reconnects on its own backoff; until then reads fail fast as unavailable.
        const read = await vi.waitFor(() => store.readAfter(['c'], 0), { timeout: 10_000, interval: 50 });
        if (aof) {
          expect(read.epoch).toBe(first.epoch);
          expect(read.records.map((r) => r.seq)).toEqual([1]);
          expect((await store.append([{ channel: 'c', body: body(2) }])).events).toEqual([
            { seq: 2, prevSeq: 1 },
          ]);
        } else {
          expect(read.epoch).not.toBe(first.epoch);
          expect(read).toMatchObject({ records: [], head: 0 });
        }
      } finally {
        await store.close();
        await server.stop();
      }
    }
  });

  it('rejects publishes with typed errors while Redis is down, keeps streams open, and resumes after restart', async () => {
    const server = await startRedis({ aof: true });
    const store = redisStore({ url: server.url, namespace: 'down' });
    const ev = events({ history: store, keepAlive: 50 });
    const errors: Error[] = [];
    ev.on('error', (e) => errors.push(e));
    const http = await startServer(createHandler({ events: ev }));
    try {
      const client = await connect(http.url('/?channel=c'));
      await client.waitFor((c) => c.named('stream-open').length === 1);
      await ev.publish('c', { data: 'before' });
      await server.kill();
      const failure = await ev.publish('c', { data: 'lost' }).catch((e: unknown) => e);
      expect(failure).toMatchObject({ code: 'ERR_SSE_STORE', cause: { code: 'ERR_SSE_REDIS' } });
      // The open stream stays open and keeps getting keep-alives.
      const keepAlives = client.named('keep-alive').length;
      await client.waitFor((c) => c.named('keep-alive').length > keepAlives);
      expect(client.ended).toBe(false);
      await server.start();
      // The client reconnects on its own schedule; publishing works again once Redis answers.
      let failed = 1;
      const deadline = Date.now() + 10_000;
      for (;;) {
        const ok = await ev.publish('c', { data: 'after' }).then(
          () => true,
          () => false,
        );
        if (ok) break;
        failed++;
        if (Date.now() > deadline) throw new Error('publish never recovered');
        await new Promise((r) => setTimeout(r, 50));
      }
      await client.waitFor((c) => c.named('message').some((m) => m.data === '"after"'));
      expect(client.named('message').map((m) => m.data)).toEqual(['"before"', '"after"']);
      // Each rejected publish was also reported on 'error', as a store error (counted first:
      // every() holds for an empty list).
      expect(errors).toHaveLength(failed);
      expect(errors.map((e) => (e as { code?: string }).code)).toEqual(Array(failed).fill('ERR_SSE_STORE'));
      client.close();
    } finally {
      await ev.close();
      await http.close();
      await store.close();
      await server.stop();
    }
  });
});
