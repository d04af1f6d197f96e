// Two origin processes on one Redis history behind a REAL Pushpin (reliable mode), publishing at
// the same time, one on channel `a` and one on `b`. Pushpin delivers per channel, so a client on
// both sees them in an order that is not the ids' order; clients that cut their connection
// again and again and resume with a plain EventSource's Last-Event-ID must still get every
// event of each channel exactly once, in order.
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensurePushpin, freePorts, type PushpinInstance, startPushpin } from '../helpers/pushpin.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { until } from '../helpers/sse-client.js';
import { type OriginProcess, publishOk, startOrigin } from './origin-process.js';

let redis: RedisInstance;
const cleanups: Array<() => Promise<void> | void> = [];
const pushpins: PushpinInstance[] = [];

beforeAll(async () => {
  await ensurePushpin();
  redis = await startRedis();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') for (const pp of pushpins) console.error(pp.tailLogs());
  pushpins.length = 0;
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
afterAll(async () => {
  await redis?.stop();
});

interface ChannelsClient {
  /** Per channel, the data of every event received, in order, across all connections. */
  readonly received: Record<string, number[]>;
  cuts: number;
  resets: number;
  connected: boolean;
  readonly done: Promise<void>;
}

/**
 * A client on several channels that keeps reconnecting with the last id it saw, as EventSource
 * does, cutting each connection after a random number of events, until it has the event `last`
 * of every channel (or `deadline` passed: a lost last event must not hang the test).
 */
function channelsClient(
  url: string,
  channels: readonly string[],
  last: number,
  maxEventsPerConnection: number,
  deadline: number,
): ChannelsClient {
  const client: ChannelsClient = {
    received: Object.fromEntries(channels.map((c) => [c, []])),
    cuts: 0,
    resets: 0,
    connected: false,
    done: Promise.resolve(),
  };
  let position: string | undefined;
  const finished = () => Date.now() > deadline || channels.every((c) => client.received[c]!.includes(last));
  const connectOnce = () =>
    new Promise<void>((resolve) => {
      const budget = 1 + Math.floor(Math.random() * maxEventsPerConnection);
      const headers: Record<string, string> = {
        accept: 'text/event-stream',
        host: Math.random() < 0.5 ? 'a.test' : 'b.test',
      };
      if (position !== undefined) headers['last-event-id'] = position;
      let seen = 0;
      let buffer = '';
      const req = http.get(url, { headers, agent: false }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const id = /^id: (.*)$/m.exec(block)?.[1];
            if (id !== undefined) position = id;
            const event = /^event: (.*)$/m.exec(block)?.[1] ?? '';
            if (event === 'stream-open') client.connected = true;
            if (event === 'stream-reset') client.resets++;
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (!channels.includes(event) || data === undefined) continue;
            client.received[event]!.push(Number(data));
            seen++;
            if (seen >= budget || finished()) {
              client.cuts++;
              req.destroy();
              resolve();
              return;
            }
          }
        });
        res.on('end', resolve);
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
    });
  (client as { done: Promise<void> }).done = (async () => {
    while (!finished()) await connectOnce();
  })();
  return client;
}

/** Lost (never received), duplicated (received more than once) and out of order, for 1..total. */
function tally(received: readonly number[], total: number) {
  const distinct = new Set(received);
  let outOfOrder = 0;
  for (let i = 1; i < received.length; i++) if (received[i]! <= received[i - 1]!) outOfOrder++;
  return {
    lost: total - [...distinct].filter((n) => n >= 1 && n <= total).length,
    duplicated: received.length - distinct.size,
    outOfOrder,
  };
}

describe('two origins on one Redis behind Pushpin, publishing at once', () => {
  it('chaos: clients on two channels, cut 50+ times each, get every event of each channel once, in order', async () => {
    const [publishPort] = await freePorts(1);
    const env = {
      REDIS_URL: redis.url,
      NS: 'multi',
      SECRET: 'multi-channel-secret-0123456789',
      GRIP: `http://127.0.0.1:${publishPort}?key=changeme`,
    };
    const [a, b]: OriginProcess[] = await Promise.all([
      startOrigin('a', env, cleanups),
      startOrigin('b', env, cleanups),
    ]);
    const pp = await startPushpin({
      routes: [
        `a.test 127.0.0.1:${a!.port} 127.0.0.1:${b!.port}`,
        `b.test 127.0.0.1:${b!.port} 127.0.0.1:${a!.port}`,
        `* 127.0.0.1:${a!.port} 127.0.0.1:${b!.port}`,
        '',
      ].join('\n'),
      publishPort,
      readyPath: '/events?channel=ready',
    });
    pushpins.push(pp);
    cleanups.push(() => pp.stop());

    const total = 1000;
    const batch = 10;
    const channels = ['a', 'b'];
    const runs = Array.from({ length: 3 }, () =>
      channelsClient(`${pp.baseUrl}/events?channel=a&channel=b`, channels, total, 30, Date.now() + 120_000),
    );
    await until(() => runs.every((r) => r.connected), 15_000, 'clients connected');
    await pp.waitForSubscription('events-b', runs.length);
    // Origin A publishes on a while B publishes on b: their publishes reach Pushpin in an order
    // that is not the order the shared history gave their ids.
    const publishAll = async (origin: OriginProcess, channel: string) => {
      for (let first = 1; first <= total; first += batch) {
        await publishOk(
          origin,
          channel,
          Array.from({ length: batch }, (_, k) => ({ event: channel, data: first + k })),
        );
      }
    };
    await Promise.all([publishAll(a!, 'a'), publishAll(b!, 'b')]);
    await Promise.all(runs.map((r) => r.done));

    const figures = runs.map((run) =>
      Object.fromEntries(channels.map((c) => [c, tally(run.received[c]!, total)])),
    );
    console.log(
      `multi-channel chaos (${total} events per channel): ${JSON.stringify(figures)}, cuts ${runs.map((r) => r.cuts).join('/')}`,
    );
    const expected = Array.from({ length: total }, (_, i) => i + 1);
    runs.forEach((run, i) => {
      for (const c of channels) expect(run.received[c], `client ${i} channel ${c}`).toEqual(expected);
      expect(run.resets, `client ${i} resets`).toBe(0);
      expect(run.cuts, `client ${i} reconnects`).toBeGreaterThanOrEqual(50);
    });
  }, 180_000);
});
