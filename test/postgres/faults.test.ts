// Faults of the Postgres engine against a real server: the app exhausting its own pool (a typed
// error within acquireTimeoutMs, no hang), the bus' LISTEN connection terminated (clients still
// get every event, within a bound), retention by count and by age (a resume past it is reset).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, events } from '../../dist/index.js';
import { postgres, postgresStore } from '../../dist/postgres.js';
import { type PostgresInstance, startPostgres } from '../helpers/postgres.js';
import { startServer } from '../helpers/server.js';
import { connect, until } from '../helpers/sse-client.js';

let server: PostgresInstance;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await server.stop();
});

function serve(engine: ReturnType<typeof postgres>) {
  const ev = events({ ...engine, keepAlive: false });
  ev.on('error', () => {});
  cleanups.push(() => ev.close());
  return ev;
}

describe('Postgres engine faults', () => {
  it('pool exhaustion by the app: publish rejects with a typed error naming the endpoint within acquireTimeoutMs, then works again', async () => {
    const pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on('error', () => {});
    cleanups.push(() => pool.end());
    const engine = postgres({ pool, namespace: 'exhaust', acquireTimeoutMs: 500 });
    const ev = serve(engine);
    await ev.publish('c', { event: 'n', data: 0 });
    const held = [await pool.connect(), await pool.connect()];
    const started = performance.now();
    const err = (await ev.publish('c', { event: 'n', data: 1 }).catch((e: unknown) => e)) as {
      code: string;
      cause: { code: string; endpoint: string; outcome: string; message: string };
    };
    const waited = performance.now() - started;
    expect(err.code).toBe('ERR_SSE_STORE');
    expect(err.cause).toMatchObject({ code: 'ERR_SSE_POSTGRES', outcome: 'not-stored' });
    expect(err.cause.endpoint).toContain(`127.0.0.1:${server.port}`);
    expect(err.cause.message).toContain('no free connection');
    expect(waited).toBeGreaterThanOrEqual(450);
    expect(waited).toBeLessThan(10_000);
    for (const c of held) c.release();
    await ev.publish('c', { event: 'n', data: 2 });
    const read = await engine.history.readAfter(['c'], 0);
    // The refused publish was not stored.
    expect(read.records.map((r) => r.body)).toEqual([
      expect.stringContaining('0'),
      expect.stringContaining('2'),
    ]);
  }, 60_000);

  it('the LISTEN connection terminated: a client on that process still gets every event another process publishes, within 5 s', async () => {
    const receiver = postgres({ url: server.url, namespace: 'listen', bus: { checkIntervalMs: false } });
    const ev = serve(receiver);
    const sender = serve(postgres({ url: server.url, namespace: 'listen' }));
    const http = await startServer(createHandler({ events: ev }));
    cleanups.push(() => http.close());
    const client = await connect(http.url('/?channel=c'), { accept: 'text/event-stream' });
    cleanups.push(() => client.close());
    await client.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');
    await until(async () => receiver.bus.listenerPid !== undefined, 15_000, 'LISTEN up');
    await sender.publish('c', { event: 'n', data: 0 });
    await client.waitFor((c) => c.named('n').length === 1, 15_000, 'the first event');
    const admin = new pg.Client({ connectionString: server.url });
    admin.on('error', () => {});
    await admin.connect();
    cleanups.push(() => admin.end());
    const pid = receiver.bus.listenerPid;
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const published = performance.now();
    for (let i = 1; i <= 100; i++) await sender.publish('c', { event: 'n', data: i });
    await client.waitFor((c) => c.named('n').length === 101, 5_000, 'every event within 5 s');
    const ms = performance.now() - published;
    expect(client.named('n').map((e) => Number(e.data))).toEqual(Array.from({ length: 101 }, (_, i) => i));
    expect(client.named('stream-reset')).toEqual([]);
    expect(receiver.bus.listenerPid).not.toBe(pid);
    expect(ms).toBeLessThan(5_000);
  }, 60_000);

  it('retention by count and by age: old events go, a resume from before them is reset as expired', async () => {
    const byCount = postgresStore({ url: server.url, namespace: 'ret-count', maxEventsPerChannel: 5 });
    cleanups.push(() => byCount.close());
    const body = (n: number) => `event: n\ndata: ${n}\n\n`;
    await byCount.append(Array.from({ length: 20 }, (_, i) => ({ channel: 'c', body: body(i + 1) })));
    await (byCount as unknown as { trim(): Promise<number> }).trim();
    const kept = await byCount.readAfter(['c'], 0);
    expect(kept.records.map((r) => r.seq)).toEqual([16, 17, 18, 19, 20]);
    expect(kept.gaps).toEqual(['c']);
    expect((await byCount.readAfter(['c'], 15)).gaps).toEqual([]);
    // A response stream's channel is not bound by maxEventsPerChannel: it stays whole.
    await byCount.append(Array.from({ length: 20 }, (_, i) => ({ channel: '~stream/a', body: body(i) })));
    await (byCount as unknown as { trim(): Promise<number> }).trim();
    const answer = await byCount.readAfter(['~stream/a'], 0);
    expect(answer.records.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 21 + i));
    expect(answer.gaps).toEqual([]);

    const byAge = postgresStore({ url: server.url, namespace: 'ret-age', maxAgeMs: 300 });
    cleanups.push(() => byAge.close());
    await byAge.append([{ channel: 'c', body: body(1) }]);
    const admin = new pg.Client({ connectionString: server.url });
    admin.on('error', () => {});
    await admin.connect();
    cleanups.push(() => admin.end());
    // Waits on the database's clock, the one retention judges by.
    await until(
      async () =>
        (
          await admin.query(
            `SELECT clock_timestamp() > max(at) + interval '350 milliseconds' AS old FROM ees_events WHERE ns = 'ret-age'`,
          )
        ).rows[0].old === true,
      10_000,
      'the first event to be older than maxAgeMs',
    );
    await byAge.append([{ channel: 'c', body: body(2) }]);
    await (byAge as unknown as { trim(): Promise<number> }).trim();
    const young = await byAge.readAfter(['c'], 0);
    expect(young.records.map((r) => r.seq)).toEqual([2]);
    expect(young.gaps).toEqual(['c']);
  }, 60_000);
});
