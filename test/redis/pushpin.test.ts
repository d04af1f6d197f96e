// Two origin processes behind a REAL Pushpin, in GRIP reliable mode, sharing one Redis history and
// the recovery secret. Pushpin routes by Host: `a.test` to origin A (B when A is down), `b.test` to
// B (then A), so a test picks the origin of each connection. A recovery link is fetched on the
// route of the stream it belongs to (a rewritten path prefix would be applied to it again), so
// Host routing with failover is the way to have it answered by another origin. Publishes go
// through a forwarder in this process that can drop chosen events, as if the origin's publish to
// the proxy had been lost or the origin had died right after storing the event in Redis.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chaosClient } from '../helpers/chaos-client.js';
import { lossyPublishPath } from '../helpers/lossy-publish.js';
import { ensurePushpin, type PushpinInstance, startPushpin } from '../helpers/pushpin.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { connect, type SseClient, until } from '../helpers/sse-client.js';
import { type OriginProcess, publishOk, startOrigin as spawnOrigin } from './origin-process.js';

const SECRET = 'shared-recovery-secret-0123456789';

let redis: RedisInstance;
const cleanups: Array<() => Promise<void> | void> = [];
const pushpins: PushpinInstance[] = [];

beforeAll(async () => {
  await ensurePushpin();
  redis = await startRedis();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    for (const pp of pushpins) console.error(`Pushpin http ${pp.httpPort}:\n${pp.tailLogs()}`);
  }
  pushpins.length = 0;
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
afterAll(async () => {
  await redis?.stop();
});

interface Origin {
  readonly name: string;
  readonly port: number;
  /** Publish events in order (one request); resolves once the origin's publish() calls resolved. */
  publish(channel: string, events: ReadonlyArray<{ event: string; data: unknown }>): Promise<void>;
  /** Recovery-link requests this origin answered with 200. */
  recoveries(): Promise<number>;
  /** SIGKILL by PID, and wait for the exit. */
  kill(): Promise<void>;
}

async function startOrigin(name: string, env: Record<string, string>): Promise<Origin> {
  const o: OriginProcess = await spawnOrigin(name, { REDIS_URL: redis.url, SECRET, ...env }, cleanups);
  return {
    name,
    port: o.port,
    publish: (channel, events) => publishOk(o, channel, events),
    recoveries: async () => (await o.stats()).recoveries,
    kill: () => o.kill(),
  };
}

interface Stack {
  a: Origin;
  b: Origin;
  pp: PushpinInstance;
  withheld: Set<string>;
}

/** Redis (shared), two origins, the lossy publish path, and a Pushpin routing by Host with failover. */
async function stack(namespace: string): Promise<Stack> {
  let publishPort = 0;
  const lossy = await lossyPublishPath(() => publishPort, cleanups);
  const env = { NS: namespace, GRIP: `http://127.0.0.1:${lossy.server.port}?key=changeme` };
  const [a, b] = await Promise.all([startOrigin('a', env), startOrigin('b', env)]);
  const pp = await startPushpin({
    routes: [
      `a.test 127.0.0.1:${a.port} 127.0.0.1:${b.port}`,
      `b.test 127.0.0.1:${b.port} 127.0.0.1:${a.port}`,
      `* 127.0.0.1:${a.port} 127.0.0.1:${b.port}`,
      '',
    ].join('\n'),
    readyPath: '/events?channel=ready',
  });
  publishPort = pp.publishPort;
  pushpins.push(pp);
  cleanups.push(() => pp.stop());
  return { a, b, pp, withheld: lossy.withheld };
}

/** A stream through the proxy to origin `via` (`'a'` or `'b'`; the other one when it is down). */
async function viaProxy(
  pp: PushpinInstance,
  via: 'a' | 'b',
  path: string,
  headers: Record<string, string> = {},
) {
  const c = await connect(`${pp.baseUrl}${path}`, {
    accept: 'text/event-stream',
    host: `${via}.test`,
    ...headers,
  });
  cleanups.push(() => c.close());
  return c;
}

const numbers = (c: SseClient) => c.named('n').map((e) => JSON.parse(e.data) as number);
const n = (data: number) => ({ event: 'n', data });

describe('two origins behind Pushpin sharing one Redis history', () => {
  it('a client that reconnects through the other origin resumes without loss', async () => {
    const { a, b, pp } = await stack('resume');
    const first = await viaProxy(pp, 'a', '/events?channel=news&channel=sport');
    expect(first.headers['x-origin']).toBe('a');
    await pp.waitForSubscription('events-sport');
    await a.publish('news', [n(1)]);
    await b.publish('sport', [n(2)]);
    await first.waitFor((c) => numbers(c).length === 2, 10_000, 'two live events');
    const position = first.named('n')[1]!.id!;
    first.close();
    // Missed while away, published on both origins, with an event on a channel it does not follow.
    await b.publish('news', [n(3)]);
    await a.publish('weather', [n(99)]);
    await a.publish('sport', [n(4)]);
    await b.publish('news', [n(5)]);
    const second = await viaProxy(pp, 'b', '/events?channel=news&channel=sport', {
      'last-event-id': position,
    });
    expect(second.headers['x-origin']).toBe('b');
    await second.waitFor((c) => numbers(c).length === 3, 10_000, 'the replay from B');
    expect(second.named('stream-open')[0]!.data).toBe('{"replayed":3}');
    await pp.waitForSubscription('events-sport', 2);
    await a.publish('sport', [n(6)]);
    await second.waitFor((c) => numbers(c).length === 4, 10_000, 'a live event from A');
    expect(numbers(second)).toEqual([3, 4, 5, 6]);
    // A proxied stream on two channels has composite ids (its last id on each channel): every
    // part in the one shared epoch, and no channel's position going back.
    const parts = (id: string) => id.slice(id.indexOf(':') + 1).split('.');
    const epoch = parts(position)[0]!.split('-')[0];
    const positions = second.named('n').map((e) =>
      parts(e.id!).map((part) => {
        expect(part.split('-')[0]).toBe(epoch);
        return Number(part.split('-')[1]);
      }),
    );
    for (let i = 1; i < positions.length; i++) {
      const [before, after] = [positions[i - 1]!, positions[i]!];
      if (before.length !== after.length) continue;
      for (const [k, seq] of after.entries()) expect(seq).toBeGreaterThanOrEqual(before[k]!);
    }
    expect(second.named('stream-reset')).toEqual([]);
  });

  it('reliable mode: an event A stored but never got to the proxy is recovered from B once A is gone', async () => {
    const { a, b, pp, withheld } = await stack('recover');
    const c = await viaProxy(pp, 'a', '/events?channel=r');
    expect(c.headers['x-origin']).toBe('a');
    await pp.waitForSubscription('events-r');
    // Alternating origins. A stores 3 in Redis, but its publish never reaches the proxy, and A
    // dies: the stream's recovery link can now only be answered by B.
    withheld.add('3');
    await a.publish('r', [n(1)]);
    await b.publish('r', [n(2)]);
    await a.publish('r', [n(3)]);
    await a.kill();
    await b.publish('r', [n(4)]);
    await b.publish('r', [n(5)]);
    await c.waitFor((x) => numbers(x).length >= 5, 20_000, 'all five events');
    await b.publish('r', [n(6)]);
    await c.waitFor((x) => numbers(x).includes(6), 15_000, 'a later event');
    expect(numbers(c)).toEqual([1, 2, 3, 4, 5, 6]);
    // Pushpin fetched the recovery link from event 2's position, and B answered it.
    const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await pp.waitForLog(
      new RegExp(
        `GET \\S+[?&]es-recover=\\S+ .* code=200 .*#events-r=${literal(c.named('n')[1]!.id!)}$`,
        'm',
      ),
    );
    expect(await b.recoveries()).toBeGreaterThanOrEqual(1);
  });

  it('chaos: 3 clients cut 100+ times each, reconnecting through random origins, get every event once, in order', async () => {
    const { a, b, pp, withheld } = await stack('chaos');
    const total = 3000;
    const batch = 10;
    const clients = 3;
    // Every 97th event never reaches the proxy: only reliable-mode recovery or a resume can bring it.
    for (let i = 97; i <= total; i += 97) withheld.add(String(i));
    const host = () => ({ host: Math.random() < 0.5 ? 'a.test' : 'b.test' });
    const runs = Array.from({ length: clients }, () =>
      chaosClient(`${pp.baseUrl}/events?channel=chaos`, total, 40, { headers: host }),
    );
    await until(() => runs.every((r) => r.connected), 15_000, 'clients connected');
    await pp.waitForSubscription('events-chaos', clients);
    // Batches alternate between the origins, each awaited, so seq order is data order.
    for (let first = 1; first <= total; first += batch) {
      const origin = ((first - 1) / batch) % 2 === 0 ? a : b;
      await origin.publish(
        'chaos',
        Array.from({ length: batch }, (_, k) => n(first + k)),
      );
    }
    await Promise.all(runs.map((r) => r.done));
    const expected = Array.from({ length: total }, (_, i) => i + 1);
    runs.forEach((run, i) => {
      expect(run.received, `client ${i}`).toEqual(expected);
      expect(run.cuts, `client ${i} reconnects`).toBeGreaterThanOrEqual(100);
      expect(run.resets, `client ${i} resets`).toBe(0);
      expect(run.servedBy.a, `client ${i} via A`).toBeGreaterThan(10);
      expect(run.servedBy.b, `client ${i} via B`).toBeGreaterThan(10);
    });
    // Some withheld events reached live streams through recovery links (the rest through resumes).
    expect((await a.recoveries()) + (await b.recoveries())).toBeGreaterThan(0);
  }, 90_000);
});
