// Two origin processes behind a REAL Pushpin, in GRIP reliable mode, sharing one PostgreSQL history
// and the recovery secret (the Redis version: test/redis/pushpin.test.ts). Pushpin routes by Host:
// `a.test` to origin A (B when A is down), `b.test` to B (then A). Publishes reach the proxy
// through a forwarder that can drop chosen events, as if an origin had died right after storing.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chaosClient } from '../helpers/chaos-client.js';
import { lossyPublishPath } from '../helpers/lossy-publish.js';
import { type PostgresInstance, startPostgres } from '../helpers/postgres.js';
import { ensurePushpin, type PushpinInstance, startPushpin } from '../helpers/pushpin.js';
import { connect, type SseClient, until } from '../helpers/sse-client.js';
import { type OriginProcess, publishOk, startOrigin } from '../redis/origin-process.js';

const SECRET = 'shared-recovery-secret-0123456789';

let database: PostgresInstance;
const cleanups: Array<() => Promise<void> | void> = [];
const pushpins: PushpinInstance[] = [];

beforeAll(async () => {
  await ensurePushpin();
  database = await startPostgres();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    for (const pp of pushpins) console.error(`Pushpin http ${pp.httpPort}:\n${pp.tailLogs()}`);
  }
  pushpins.length = 0;
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
afterAll(async () => {
  await database?.stop();
});

interface Stack {
  a: OriginProcess;
  b: OriginProcess;
  pp: PushpinInstance;
  withheld: Set<string>;
}

/** Two origins on the Postgres history, the lossy publish path, Pushpin routing by Host with failover. */
async function stack(namespace: string): Promise<Stack> {
  let publishPort = 0;
  const lossy = await lossyPublishPath(() => publishPort, cleanups);
  const env = {
    DATABASE_URL: database.url,
    NS: namespace,
    SECRET,
    GRIP: `http://127.0.0.1:${lossy.server.port}?key=changeme`,
  };
  const [a, b] = (await Promise.all(['a', 'b'].map((name) => startOrigin(name, env, cleanups)))) as [
    OriginProcess,
    OriginProcess,
  ];
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

describe('two origins behind Pushpin sharing one PostgreSQL history', () => {
  it('reliable mode: an event A stored but never got to the proxy is recovered from B once A is gone', async () => {
    const { a, b, pp, withheld } = await stack('recover');
    const c = await viaProxy(pp, 'a', '/events?channel=r');
    expect(c.headers['x-origin']).toBe('a');
    await pp.waitForSubscription('events-r');
    // A stores 3 in the database, but its publish never reaches the proxy, and A dies: the
    // stream's recovery link can now only be answered by B, from the shared table.
    withheld.add('3');
    await publishOk(a, 'r', [n(1)]);
    await publishOk(b, 'r', [n(2)]);
    await publishOk(a, 'r', [n(3)]);
    await a.kill();
    await publishOk(b, 'r', [n(4)]);
    await publishOk(b, 'r', [n(5)]);
    await c.waitFor((x) => numbers(x).length >= 5, 20_000, 'all five events');
    await publishOk(b, 'r', [n(6)]);
    await c.waitFor((x) => numbers(x).includes(6), 15_000, 'a later event');
    expect(numbers(c)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(c.named('stream-reset')).toEqual([]);
    // Pushpin fetched the recovery link from event 2's position, and B answered it.
    const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await pp.waitForLog(
      new RegExp(
        `GET \\S+[?&]es-recover=\\S+ .* code=200 .*#events-r=${literal(c.named('n')[1]!.id!)}$`,
        'm',
      ),
    );
    expect((await b.stats()).recoveries).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('chaos: 3 clients cut 100+ times each, reconnecting through random origins, with every 97th event lost on the way to the proxy, get every event once, in order', async () => {
    const { a, b, pp, withheld } = await stack('chaos');
    const total = 3000;
    const batch = 10;
    for (let i = 97; i <= total; i += 97) withheld.add(String(i));
    const host = () => ({ host: Math.random() < 0.5 ? 'a.test' : 'b.test' });
    const runs = Array.from({ length: 3 }, () =>
      chaosClient(`${pp.baseUrl}/events?channel=chaos`, total, 40, { headers: host }),
    );
    await until(() => runs.every((r) => r.connected), 15_000, 'clients connected');
    await pp.waitForSubscription('events-chaos', 3);
    // Batches alternate between the origins, each awaited, so seq order is data order.
    for (let first = 1, k = 0; first <= total; first += batch, k++) {
      await publishOk(
        k % 2 === 0 ? a : b,
        'chaos',
        Array.from({ length: batch }, (_, i) => n(first + i)),
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
    expect((await a.stats()).recoveries + (await b.stats()).recoveries).toBeGreaterThan(0);
  }, 120_000);
});
