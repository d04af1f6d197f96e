// redis(): the shared history and the bus from one configuration, `events({ ...redis(url) })`;
// the option checks of redis(), redisStore() and redisBus() (typed errors, unknown keys refused).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, type Events, events, InvalidOptionError } from '../../src/index.js';
import { type RedisSetupOptions, redis, redisBus, redisStore } from '../../src/integrations/redis/index.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { startServer } from '../helpers/server.js';
import { connect, until } from '../helpers/sse-client.js';

let server: RedisInstance;
let n = 0;
const ns = () => `s${process.pid}x${++n}`;

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});

/** The InvalidOptionError `fn` throws, as { option, code }. */
function refusal(fn: () => unknown): { option: string; code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionError);
    const e = err as InvalidOptionError;
    return { option: e.option, code: e.code, message: e.message };
  }
  throw new Error('did not throw');
}

/** Connections named `name` that Redis has open (ioredis takes connectionName from the URL). */
const connections = (name: string) =>
  server
    .cli('CLIENT', 'LIST')
    .split('\n')
    .filter((l) => l.includes(` name=${name} `)).length;

describe('redis()', () => {
  it('refuses bad and unknown options with InvalidOptionError, naming the option', () => {
    const url = server.url;
    expect(refusal(() => redis(undefined as unknown as string))).toMatchObject({
      option: 'url',
      code: 'ERR_SSE_INVALID_OPTION',
    });
    expect(refusal(() => redis(''))).toMatchObject({ option: 'url' });
    expect(refusal(() => redis('http://127.0.0.1:6379'))).toMatchObject({ option: 'url' });
    expect(refusal(() => redis('not a url'))).toMatchObject({ option: 'url' });
    expect(refusal(() => redis([] as unknown as string))).toMatchObject({ option: 'options' });
    expect(refusal(() => redis({ url, maxEvents: 5 } as RedisSetupOptions))).toMatchObject({
      option: 'maxEvents',
      message: expect.stringContaining('maxEventsPerChannel'),
    });
    expect(refusal(() => redis({ url, bus: { pageSiz: 10 } } as RedisSetupOptions))).toMatchObject({
      option: 'bus.pageSiz',
      message: expect.stringContaining('bus.pageSize'),
    });
    // The store and closeStore are redis()' own business.
    expect(refusal(() => redis({ url, bus: { closeStore: false } } as RedisSetupOptions))).toMatchObject({
      option: 'bus.closeStore',
    });
    expect(refusal(() => redis({ url, bus: { pageSize: 0 } }))).toMatchObject({ option: 'bus.pageSize' });
    expect(refusal(() => redis({ url, bus: { checkIntervalMs: -1 } }))).toMatchObject({
      option: 'bus.checkIntervalMs',
    });
    expect(refusal(() => redis({ url, bus: { onError: 'log' as never } }))).toMatchObject({
      option: 'bus.onError',
    });
    expect(refusal(() => redis({ url, bus: null as never }))).toMatchObject({ option: 'bus' });
    expect(refusal(() => redis({ url, namespace: 'a b' }))).toMatchObject({ option: 'namespace' });
    expect(refusal(() => redis({ url, maxAgeMs: 1.5 }))).toMatchObject({ option: 'maxAgeMs' });
  });

  it('redisStore() and redisBus() refuse unknown keys and bad values too', () => {
    const url = server.url;
    expect(refusal(() => redisStore({ url, maxEvents: 5 } as never))).toMatchObject({ option: 'maxEvents' });
    expect(refusal(() => redisStore({ url: 'ftp://x' }))).toMatchObject({
      option: 'url',
      message: expect.stringContaining(
        'url must be a redis:// or rediss:// URL (or a unix socket path), got a ftp: URL',
      ),
    });
    expect(refusal(() => redisStore({ url: 'redis//x' })).message).toContain('got an unparsable value');
    expect(refusal(() => redisStore({ url: 42 as never }))).toMatchObject({ option: 'url' });
    expect(refusal(() => redisStore({ client: null as never }))).toMatchObject({ option: 'client' });
    const store = redisStore({ url, namespace: ns() });
    try {
      expect(refusal(() => redisStore({ url, client: store.client }))).toMatchObject({ option: 'url' });
      expect(refusal(() => redisBus({} as never))).toMatchObject({ option: 'store' });
      expect(refusal(() => redisBus({ store: {} as never }))).toMatchObject({ option: 'store' });
      expect(refusal(() => redisBus({ store, pageSiz: 1 } as never))).toMatchObject({ option: 'pageSiz' });
      expect(refusal(() => redisBus({ store, maxBuffered: 0 }))).toMatchObject({ option: 'maxBuffered' });
      expect(refusal(() => redisBus({ store, encode: 1 as never }))).toMatchObject({ option: 'encode' });
      expect(refusal(() => redisBus({ store, closeStore: 'yes' as never }))).toMatchObject({
        option: 'closeStore',
      });
      expect(refusal(() => redisBus({ store, checkIntervalMs: 0 }))).toMatchObject({
        option: 'checkIntervalMs',
      });
      expect(() => redisBus({ store, checkIntervalMs: false })).not.toThrow();
    } finally {
      void store.close();
    }
  });

  it('events({ ...redis(url) }): two Events objects share history and bus; events.close() closes both connections', async () => {
    const namespace = ns();
    const name = (i: number) => `setup-${namespace}-${i}`;
    // Two "processes": each its own redis() setup on the same namespace.
    const evs = [0, 1].map((i) =>
      events({ ...redis({ url: `${server.url}/?connectionName=${name(i)}`, namespace }), keepAlive: false }),
    );
    const [a, b] = evs as [Events, Events];
    const origin = await startServer(createHandler({ events: a }));
    try {
      const client = await connect(origin.url('/?channel=c'));
      await client.waitFor((c) => c.named('stream-open').length === 1);
      // Published on b, delivered by a's bus to a's client; then one of a's own, once.
      await b.publish('c', { event: 'n', data: 1 });
      await a.publish('c', { event: 'n', data: 2 });
      await client.waitFor((c) => c.named('n').length === 2, 5000, 'both events');
      expect(client.named('n').map((e) => e.data)).toEqual(['1', '2']);
      const [first, second] = client.named('n').map((e) => e.id!);
      expect(second!.split('-')[0]).toBe(first!.split('-')[0]);
      expect(Number(second!.split('-')[1])).toBe(Number(first!.split('-')[1]) + 1);
      client.close();
      // Each setup holds the store's connection and, once started, the bus' and the control
      // channel's subscribers.
      expect(connections(name(0))).toBe(3);
    } finally {
      await origin.close();
      await Promise.all(evs.map((ev) => ev.close()));
    }
    await until(() => connections(name(0)) + connections(name(1)) === 0, 5000, 'connections closed');
  });
});
