// The engine's shared state on a real Redis: shared by two Events objects, expiring by Redis' clock
// (short real ttls, condition waits), scopes that disappear when abandoned, foreign values written
// into our keys with raw commands never returned, typed errors naming the key or the endpoint.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { events, type SharedState } from '../../src/index.js';
import {
  RedisDataError,
  RedisUnavailableError,
  redis,
  redisState,
  redisStore,
} from '../../src/integrations/redis/index.js';
import { deadPort } from '../helpers/net.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { until } from '../helpers/sse-client.js';
import { checkCompareAndSet } from '../helpers/state-cas.js';

let server: RedisInstance;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let n = 0;
const ns = () => `st${process.pid}x${++n}`;

/** The state of an Events object on the test's Redis (as features reach it), closed after the test. */
function stateOf(name: string): SharedState {
  const engine = redis({ url: server.url, namespace: name });
  const ev = events({ ...engine, keepAlive: false });
  cleanups.push(() => ev.close());
  return (ev as unknown as Record<symbol, { engine: { state: SharedState } }>)[
    Symbol.for('express-eventstream.core')
  ]!.engine.state;
}

const keys = (name: string, scope: string) => ({
  values: `ees:{${name}}:sv:${scope}`,
  expiries: `ees:{${name}}:se:${scope}`,
});

describe('Redis shared state', () => {
  it('two processes opening one response stream id at once: exactly one produces it, the other gets `exists`', async () => {
    const name = ns();
    const [a, b] = [0, 1].map(() => {
      const ev = events({ ...redis({ url: server.url, namespace: name }), keepAlive: false });
      cleanups.push(() => ev.close());
      return ev;
    });
    for (let i = 0; i < 10; i++) {
      const streams = [a!.stream(`answer-${i}`), b!.stream(`answer-${i}`)];
      const outcomes = await Promise.allSettled(streams.map((s) => s.append('token')));
      expect(
        outcomes.filter((o) => o.status === 'fulfilled'),
        `answer-${i}`,
      ).toHaveLength(1);
      const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toMatchObject({ problem: 'exists' });
      await streams[outcomes.findIndex((o) => o.status === 'fulfilled')]!.end();
    }
  }, 60_000);

  it('compareAndSet: of writers racing from one expected value on their own connections, exactly one wins', async () => {
    const name = ns();
    await checkCompareAndSet([stateOf(name), stateOf(name), stateOf(name), stateOf(name)], 'cas');
  }, 60_000);

  it('is shared by two Events objects and expires by Redis’ clock; a put refreshes', async () => {
    const name = ns();
    const a = stateOf(name);
    const b = stateOf(name);
    await a.put('room', 'short', 's', 400);
    await a.put('room', 'long', 'l', 60_000);
    expect(await b.get('room', 'short')).toBe('s');
    expect(await b.count('room')).toBe(2);
    expect((await b.entries('room')).sort()).toEqual([
      ['long', 'l'],
      ['short', 's'],
    ]);
    await until(async () => (await b.get('room', 'short')) === undefined, 10_000, 'short expired');
    expect(await b.count('room')).toBe(1);
    expect(await b.entries('room')).toEqual([['long', 'l']]);
    // Refreshed by b, read by a.
    await b.put('room', 'long', 'l2', 60_000);
    expect(await a.get('room', 'long')).toBe('l2');
    expect(await a.delete('room', 'long')).toBe(true);
    expect(await b.delete('room', 'long')).toBe(false);
    expect(await b.count('room')).toBe(0);
    // Nothing left behind once the scope is empty.
    const k = keys(name, 'room');
    expect(server.cli('EXISTS', k.values, k.expiries)).toBe('0');
  });

  it('an abandoned scope disappears from Redis by itself, at its latest entry’s expiry', async () => {
    const name = ns();
    const a = stateOf(name);
    await a.put('gone', 'y', '2', 3000);
    await a.put('gone', 'x', '1', 1500);
    const k = keys(name, 'gone');
    // Both keys expire with the latest entry (y), not the last written (x).
    const pttl = Number(server.cli('PTTL', k.expiries));
    expect(pttl).toBeGreaterThan(1500);
    expect(pttl).toBeLessThanOrEqual(3000);
    expect(Number(server.cli('PTTL', k.values))).toBeGreaterThan(1500);
    // No further access: Redis' own expiry removes both keys.
    await until(() => server.cli('EXISTS', k.values, k.expiries) === '0', 10_000, 'the scope gone');
  });

  it('10,000 members: count() and entries() see them all, limit honoured', async () => {
    const a = stateOf(ns());
    const puts: Promise<void>[] = [];
    for (let i = 0; i < 10_000; i++) puts.push(a.put('big', `m${i}`, `v${i}`, 60_000));
    await Promise.all(puts);
    expect(await a.count('big')).toBe(10_000);
    const all = await a.entries('big');
    expect(all).toHaveLength(10_000);
    expect(new Map(all).get('m9999')).toBe('v9999');
    expect(await a.entries('big', 10)).toHaveLength(10);
  }, 60_000);

  it('foreign values written into our keys are never returned as ours', async () => {
    const name = ns();
    const a = stateOf(name);
    await a.put('s', 'ours', 'v', 60_000);
    const k = keys(name, 's');
    const far = String(Date.now() + 10 * 86_400_000);
    const soon = String(Date.now() + 60_000);
    // A value without an expiry, an expiry beyond the longest ttl, a member without a value, and
    // a value larger than any put() accepts.
    server.cli('HSET', k.values, 'no-expiry', 'x');
    server.cli('ZADD', k.expiries, far, 'forever');
    server.cli('HSET', k.values, 'forever', 'x');
    server.cli('ZADD', k.expiries, soon, 'no-value');
    server.cli('ZADD', k.expiries, soon, 'huge');
    server.cli('HSET', k.values, 'huge', 'x'.repeat(70_000));
    expect(await a.get('s', 'no-expiry')).toBeUndefined();
    expect(await a.get('s', 'forever')).toBeUndefined();
    expect(await a.get('s', 'no-value')).toBeUndefined();
    expect(await a.get('s', 'huge')).toBeUndefined();
    expect(await a.entries('s')).toEqual([['ours', 'v']]);
    // The member beyond the longest ttl was not ours: it was dropped on access.
    expect(server.cli('ZSCORE', k.expiries, 'forever')).toBe('');
    // A key of another type in the way: a typed error naming it, nothing written.
    server.cli('SET', keys(name, 't').values, 'a string');
    const failure = await a.put('t', 'k', 'v', 1000).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RedisDataError);
    expect(failure).toMatchObject({ code: 'ERR_SSE_REDIS_DATA', key: keys(name, 't').values });
    expect(server.cli('EXISTS', keys(name, 't').expiries)).toBe('0');
    await expect(a.count('t')).rejects.toBeInstanceOf(RedisDataError);
  });

  it('refuses bad arguments before sending; unreachable Redis is a typed error naming the endpoint', async () => {
    const port = await deadPort();
    const store = redisStore({ url: `redis://:pw@127.0.0.1:${port}` });
    cleanups.push(() => store.close());
    const state = redisState({ store });
    expect(() => state.put('s', 'k', 'v', 0)).toThrow(/ttlMs/);
    expect(() => state.put('', 'k', 'v', 1000)).toThrow(/state scope/);
    expect(() => state.entries('s', 0)).toThrow(/limit/);
    expect(() => redisState({} as never)).toThrow(/redisState\(\) needs \{ store \}/);
    const started = performance.now();
    const failure = await state.get('s', 'k').catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(failure).toBeInstanceOf(RedisUnavailableError);
    expect((failure as Error).message).toMatch(
      new RegExp(`^Redis state get failed at redis://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`),
    );
  });
});
