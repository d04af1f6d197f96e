// Redis subscriptions of clients that leave while their channel is being subscribed (issue 19,
// defect 4): nothing stays subscribed in Redis, and the process keeps no state for them.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, events } from '../../src/index.js';
import { redis, redisBus, redisStore } from '../../src/integrations/redis/index.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { startServer } from '../helpers/server.js';
import { connect, until } from '../helpers/sse-client.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

let redisServer: RedisInstance;
let n = 0;
const ns = () => `l${process.pid}x${++n}`;

beforeAll(async () => {
  redisServer = await startRedis();
});
afterAll(async () => {
  await redisServer?.stop();
});

/** The namespace's pub/sub channels Redis has subscribed (sharded), as `PUBSUB SHARDCHANNELS` says. */
const shardChannels = (namespace: string): string[] =>
  redisServer
    .cli('PUBSUB', 'SHARDCHANNELS', `ees:{${namespace}}:p:*`)
    .split('\n')
    .filter((l) => l !== '');

const randomChannel = () => `r${randomBytes(6).toString('hex')}`;

describe('a client leaving while its channel is subscribed (defect 4)', () => {
  it('bus.subscribe(x) then bus.unsubscribe(x), 300 times: no channel stays subscribed, none is tracked', async () => {
    const namespace = ns();
    const store = redisStore({ url: redisServer.url, namespace });
    const bus = redisBus({ store, checkIntervalMs: false, closeStore: true });
    await bus.start({ deliver: () => {} });
    try {
      // A channel that stays: once it is placed, Redis has processed everything sent before.
      await bus.subscribe('stays');
      for (let i = 0; i < 300; i++) {
        const channel = randomChannel();
        bus.subscribe(channel).catch(() => {});
        if (i % 2 === 0) bus.unsubscribe(channel);
        else queueMicrotask(() => bus.unsubscribe(channel));
      }
      bus.subscribe('stays2').catch(() => {});
      await bus.subscribe('stays2');
      await until(() => shardChannels(namespace).length === 2, 5000, 'only the two channels that stay');
      expect(shardChannels(namespace).sort()).toEqual([
        `ees:{${namespace}}:p:stays`,
        `ees:{${namespace}}:p:stays2`,
      ]);
      expect(bus.stats.channels).toBe(2);
      expect(bus.stats.subscribed).toBe(2);
    } finally {
      await bus.close();
    }
  });

  it('300 HTTP clients with random channels leaving mid-subscribe leave 0 channels subscribed and no state', async () => {
    // Redis' replies come 150 ms late: every client leaves while its channel's SSUBSCRIBE is in flight.
    const proxy = await startTcpProxy({ port: redisServer.port, replyDelayMs: 150 });
    const namespace = ns();
    const setup = redis({
      url: `redis://127.0.0.1:${proxy.port}`,
      namespace,
      bus: { checkIntervalMs: false },
    });
    const ev = events({ ...setup, keepAlive: false });
    const server = await startServer(createHandler({ events: ev }));
    try {
      const left = await Promise.all(
        Array.from(
          { length: 300 },
          () =>
            new Promise<number>((resolve, reject) => {
              const req = http.get(
                server.url(`/?channel=${randomChannel()}`),
                { headers: { accept: 'text/event-stream' }, agent: false },
                (res) => {
                  // The head arrived: the server is subscribing the channel now. Leave.
                  req.destroy();
                  resolve(res.statusCode ?? 0);
                },
              );
              req.on('error', reject);
            }),
        ),
      );
      expect(left.every((status) => status === 200)).toBe(true);
      await until(() => ev.stats().connections === 0, 10_000, 'every stream released');
      // One more client that stays: once its stream opens, Redis has answered every (S)SUBSCRIBE
      // sent before its own on the bus' connection.
      const stays = await connect(server.url('/?channel=stays'));
      await stays.waitFor((c) => c.named('stream-open').length === 1, 10_000, 'stream-open');
      await until(
        () => shardChannels(namespace).length === 1,
        10_000,
        'only the channel that stays in Redis',
      );
      expect(shardChannels(namespace)).toEqual([`ees:{${namespace}}:p:stays`]);
      expect(ev.stats().subscribers).toEqual({ stays: 1 });
      expect(setup.bus.stats.channels).toBe(1);
      expect(setup.bus.stats.subscribed).toBe(1);
      stays.close();
    } finally {
      await ev.close();
      await server.close();
      await proxy.close();
    }
  });
});
