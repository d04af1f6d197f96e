// Origin processes sharing one PostgreSQL database as history AND bus, clients connected straight
// to them (no proxy): the chaos run of the Redis engine (test/redis/processes.test.ts), plus one
// process killed with SIGKILL and started again while events are being published.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chaosClient } from '../helpers/chaos-client.js';
import { type PostgresInstance, startPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/sse-client.js';
import { type OriginProcess, publishOk, startOrigin } from '../redis/origin-process.js';

let server: PostgresInstance;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startPostgres();
});
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
afterAll(async () => {
  await server?.stop();
});

const n = (data: number) => ({ event: 'n', data });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('origin processes sharing one PostgreSQL database as history and bus', () => {
  it('chaos: 3 clients reconnect 100+ times each to a random one of 3 processes during 5,000 events published from all three, one process SIGKILLed and restarted mid-run: every event once, in order', async () => {
    const env = { DATABASE_URL: server.url, NS: 'chaos', BUS: '1' };
    const start = (name: string) => startOrigin(name, env, cleanups);
    const procs: OriginProcess[] = await Promise.all(['a', 'b', 'c'].map(start));
    const total = 5000;
    const batch = 10;
    // Only live processes are picked; a connection open on the killed one ends with it and the
    // client reconnects (with its Last-Event-ID) to another.
    const pick = () => procs[Math.floor(Math.random() * procs.length)]!.url('/events?channel=chaos');
    const runs = Array.from({ length: 3 }, () => chaosClient(pick, total, 60));
    await until(() => runs.every((r) => r.connected), 15_000, 'clients connected');
    const killAt = 2001;
    const restartAt = 3001;
    let killed: OriginProcess | undefined;
    // Batches rotate over the live processes, each awaited, so seq order is data order.
    for (let first = 1, k = 0; first <= total; first += batch, k++) {
      if (first === killAt) {
        killed = procs.splice(2, 1)[0]!;
        await killed.kill();
      }
      if (first === restartAt) procs.push(await start('c'));
      await publishOk(procs[k % procs.length]!, 'chaos', range(first, first + batch - 1).map(n));
    }
    await Promise.all(runs.map((r) => r.done));
    expect(killed?.name).toBe('c');
    const expected = range(1, total);
    runs.forEach((run, i) => {
      expect(run.received, `client ${i}`).toEqual(expected);
      expect(run.cuts, `client ${i} reconnects`).toBeGreaterThanOrEqual(100);
      expect(run.resets, `client ${i} resets`).toBe(0);
      for (const name of ['a', 'b', 'c']) {
        expect(run.servedBy[name], `client ${i} on ${name}`).toBeGreaterThan(10);
      }
    });
  }, 180_000);
});
