// Appends that settle truthfully (resolved = stored once, rejected = not stored) when the
// connection to Redis fails between request and reply, through a TCP proxy that cuts it there.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, type Events, events } from '../../src/index.js';
import { redis as redisSetup } from '../../src/integrations/redis/index.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type SseClient, until } from '../helpers/sse-client.js';
import { containing, startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

let redis: RedisInstance;
let n = 0;
const ns = () => `f${process.pid}x${++n}`;
/** Only the store's append carries the announce command as an argument. */
const append = containing('SPUBLISH');

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

interface Rig {
  namespace: string;
  proxy: TcpProxy;
  ev: Events;
  http: TestServer;
  client: SseClient;
  close(): Promise<void>;
}

/**
 * Events on Redis through a proxy, a server, and a client on channel c that got one event.
 * `commandTimeoutMs`: the app's own client, whose commands time out that fast (the store's own
 * client waits 5 s).
 */
async function rig(options: { appendTimeoutMs?: number; commandTimeoutMs?: number } = {}): Promise<Rig> {
  const namespace = ns();
  const proxy = await startTcpProxy({ port: redis.port });
  const url = `redis://${proxy.address}`;
  const { appendTimeoutMs, commandTimeoutMs } = options;
  const own =
    commandTimeoutMs === undefined
      ? undefined
      : new Redis(url, {
          commandTimeout: commandTimeoutMs,
          maxRetriesPerRequest: 1,
          retryStrategy: () => 50,
        });
  own?.on('error', () => {});
  const connection = own === undefined ? { url } : { client: own };
  const setup = redisSetup({ ...connection, namespace, ...(appendTimeoutMs && { appendTimeoutMs }) });
  const ev = events({ ...setup, keepAlive: false });
  const http = await startServer(createHandler({ events: ev }));
  const client = await connect(http.url('/?channel=c'));
  await client.waitFor((c) => c.named('stream-open').length === 1);
  // Loads the script, so the fault below meets the append itself.
  await ev.publish('c', { data: 'warm' });
  await client.waitFor((c) => c.named('message').length === 1);
  return {
    namespace,
    proxy,
    ev,
    http,
    client,
    async close() {
      client.close();
      await ev.close();
      own?.disconnect();
      await http.close();
      await proxy.close();
    },
  };
}

const seqOf = (namespace: string) => Number(redis.cli('GET', `ees:{${namespace}}:seq`));
const stored = (namespace: string, channel: string) =>
  Number(redis.cli('XLEN', `ees:{${namespace}}:h:${channel}`));

describe('Redis appends when the reply is lost', () => {
  it('Redis ran the append, the reply never arrived: publish resolves, the event is stored and delivered once', async () => {
    const r = await rig();
    try {
      const cut = r.proxy.fault(append, { kind: 'cut-after-reply' });
      await r.ev.publish('c', { data: 'once' });
      await cut;
      await r.ev.publish('c', { data: 'next' });
      await r.client.waitFor((c) => c.named('message').some((m) => m.data === '"next"'));
      expect(r.client.named('message').map((m) => m.data)).toEqual(['"warm"', '"once"', '"next"']);
      expect(seqOf(r.namespace)).toBe(3);
    } finally {
      await r.close();
    }
  });

  it('the reconnect is refused past the command timeout after the lost reply: publish still resolves, stored once', async () => {
    const r = await rig({ commandTimeoutMs: 300 });
    try {
      const cut = r.proxy.fault(append, { kind: 'cut-after-reply' });
      r.proxy.refuse(true);
      const publish = r.ev.publish('c', { data: 'once' }).then(
        () => 'resolved',
        (err: unknown) => err,
      );
      await cut;
      // Refused for longer than the command may wait (50 ms between reconnects, 300 ms timeout).
      await until(() => r.proxy.stats.refused >= 12, 10_000, 'refused reconnects');
      r.proxy.refuse(false);
      expect(await publish).toBe('resolved');
      await r.ev.publish('c', { data: 'next' });
      await r.client.waitFor((c) => c.named('message').some((m) => m.data === '"next"'));
      expect(r.client.named('message').map((m) => m.data)).toEqual(['"warm"', '"once"', '"next"']);
      expect(seqOf(r.namespace)).toBe(3);
    } finally {
      await r.close();
    }
  });

  it('Redis unreachable past the deadline: the publish rejects, and the request arriving late stores nothing', async () => {
    const r = await rig({ appendTimeoutMs: 300 });
    try {
      const held = r.proxy.fault(append, { kind: 'hold' });
      r.proxy.refuse(true);
      const failure = await r.ev.publish('c', { data: 'late' }).catch((err: unknown) => err);
      expect(failure).toMatchObject({
        code: 'ERR_SSE_STORE',
        cause: { code: 'ERR_SSE_REDIS', outcome: 'unknown' },
      });
      // The request was stuck in the network all along; it reaches Redis now.
      const reply = await r.proxy.sendLater((await held).request);
      expect(reply.toString()).toMatch(/^-EESEXPIRED/);
      expect(seqOf(r.namespace)).toBe(1);
      expect(stored(r.namespace, 'c')).toBe(1);
      r.proxy.refuse(false);
      await r.ev.publish('c', { data: 'after' });
      await r.client.waitFor((c) => c.named('message').some((m) => m.data === '"after"'));
      expect(r.client.named('message').map((m) => m.data)).toEqual(['"warm"', '"after"']);
    } finally {
      await r.close();
    }
  });

  it('Redis never saw the request and the reconnect is refused past the command timeout: publish resolves, stored once', async () => {
    const r = await rig({ commandTimeoutMs: 300 });
    try {
      const cut = r.proxy.fault(append, { kind: 'cut-before' });
      r.proxy.refuse(true);
      const publish = r.ev.publish('c', { data: 'once' }).then(
        () => 'resolved',
        (err: unknown) => err,
      );
      await cut;
      await until(() => r.proxy.stats.refused >= 12, 10_000, 'refused reconnects');
      r.proxy.refuse(false);
      expect(await publish).toBe('resolved');
      await r.client.waitFor((c) => c.named('message').length === 2);
      expect(r.client.named('message').map((m) => m.data)).toEqual(['"warm"', '"once"']);
      expect(seqOf(r.namespace)).toBe(2);
    } finally {
      await r.close();
    }
  });
});

describe('publish(…, { idempotencyKey }) on Redis', () => {
  it('a repeat through another Events object within the window is neither stored nor delivered again; after the window it is', async () => {
    const namespace = ns();
    const options = { url: redis.url, namespace, idempotencyWindowMs: 300 };
    const one = events({ ...redisSetup(options), keepAlive: false });
    const two = events({ ...redisSetup(options), keepAlive: false });
    const http = await startServer(createHandler({ events: one }));
    const client = await connect(http.url('/?channel=c'));
    try {
      await client.waitFor((c) => c.named('stream-open').length === 1);
      await one.publish('c', { data: 'order' }, { idempotencyKey: 'post-7' });
      // The client's retry lands on the other process; and a repeat within one append.
      await two.publish('c', { data: 'order' }, { idempotencyKey: 'post-7' });
      await Promise.all([
        two.publish('c', { data: 'pair' }, { idempotencyKey: 'post-8' }),
        two.publish('c', { data: 'pair' }, { idempotencyKey: 'post-8' }),
      ]);
      await two.publish('c', { data: 'marker' });
      await client.waitFor((c) => c.named('message').some((m) => m.data === '"marker"'));
      expect(client.named('message').map((m) => m.data)).toEqual(['"order"', '"pair"', '"marker"']);
      expect(seqOf(namespace)).toBe(3);
      const key = `ees:{${namespace}}:i:post-7`;
      await until(() => redis.cli('EXISTS', key) === '0', 5000, 'the key to expire');
      await two.publish('c', { data: 'order again' }, { idempotencyKey: 'post-7' });
      await client.waitFor((c) => c.named('message').some((m) => m.data === '"order again"'));
      expect(seqOf(namespace)).toBe(4);
    } finally {
      client.close();
      await one.close();
      await two.close();
      await http.close();
    }
  });
});
