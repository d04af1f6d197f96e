// What a publish costs the database (issue 21's round trips per publish), against a real server:
// a process publishing alone sends one statement per publish (its own events are not read back,
// the wake-up its own append sends needs no read), so does one that follows no channel, the statements are prepared (planned once per
// connection), and with two processes publishing at once every event still reaches a client on
// either, once and in seq order.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, events } from '../../dist/index.js';
import { postgres } from '../../dist/postgres.js';
import { type PostgresInstance, startPostgres } from '../helpers/postgres.js';
import { startServer } from '../helpers/server.js';
import { connect, type SseClient } from '../helpers/sse-client.js';

let server: PostgresInstance;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await server.stop();
});

/** An app pool that counts checkouts: the engine takes one per statement. */
function countedPool(max: number) {
  const pool = new pg.Pool({ connectionString: server.url, max });
  pool.on('error', () => {});
  const counted = { pool, statements: 0 };
  pool.on('acquire', () => {
    counted.statements++;
  });
  cleanups.push(() => pool.end());
  return counted;
}

async function served(engine: ReturnType<typeof postgres>, channel: string) {
  const ev = events({ ...engine, keepAlive: false });
  ev.on('error', () => {});
  cleanups.push(() => ev.close());
  const http = await startServer(createHandler({ events: ev }));
  cleanups.push(() => http.close());
  const client = await connect(http.url(`/?channel=${channel}`), { accept: 'text/event-stream' });
  cleanups.push(() => client.close());
  await client.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');
  return { ev, client };
}

const values = (c: SseClient) => c.named('n').map((e) => Number(e.data));
const seqs = (c: SseClient) => c.named('n').map((e) => Number(e.id?.split('-')[1]));

describe('Postgres engine: round trips per publish', () => {
  it('a process publishing alone sends one prepared statement per publish, and its client gets each event once, in order', async () => {
    const counted = countedPool(1);
    const engine = postgres({
      pool: counted.pool,
      namespace: 'alone',
      trimIntervalMs: 600_000,
      bus: { checkIntervalMs: false },
    });
    const { ev, client } = await served(engine, 'c');
    await ev.publish('c', { event: 'n', data: 0 });
    await client.waitFor((c) => c.named('n').length === 1, 15_000, 'the first event');
    const before = counted.statements;
    for (let i = 1; i <= 50; i++) await ev.publish('c', { event: 'n', data: i });
    await client.waitFor((c) => c.named('n').length === 51, 15_000, 'every event');
    const statements = counted.statements - before;
    expect(values(client)).toEqual(Array.from({ length: 51 }, (_, i) => i));
    // One append each; a read back of each publish (and a read per wake-up) would make it 2 or more.
    // A wake-up that outruns its append's answer costs a read now and then: the bound has room.
    expect(statements).toBeGreaterThanOrEqual(50);
    expect(statements).toBeLessThan(75);
    // The pool's one connection has the engine's statements prepared.
    const prepared = await counted.pool.query<{ name: string }>('SELECT name FROM pg_prepared_statements');
    expect(prepared.rows.map((r) => r.name).filter((n) => n.startsWith('ees_')).length).toBeGreaterThan(0);
  }, 60_000);

  it('a process with no client publishes with one statement per publish; a client on another process gets every event', async () => {
    const counted = countedPool(2);
    const publisher = events({
      ...postgres({
        pool: counted.pool,
        namespace: 'apart',
        trimIntervalMs: 600_000,
        bus: { checkIntervalMs: false },
      }),
      keepAlive: false,
    });
    publisher.on('error', () => {});
    cleanups.push(() => publisher.close());
    const { client } = await served(postgres({ url: server.url, namespace: 'apart' }), 'c');
    await publisher.publish('c', { event: 'n', data: 0 });
    await client.waitFor((c) => c.named('n').length === 1, 15_000, 'the first event');
    const before = counted.statements;
    for (let i = 1; i <= 50; i++) await publisher.publish('c', { event: 'n', data: i });
    await client.waitFor((c) => c.named('n').length === 51, 15_000, 'every event');
    // Its own wake-ups read nothing (it follows no channel): a read each would make it about 2.
    expect(counted.statements - before).toBeLessThan(65);
    expect(values(client)).toEqual(Array.from({ length: 51 }, (_, i) => i));
  }, 60_000);

  it('two processes publishing at once: a client on each gets all of both, once and in seq order', async () => {
    const a = await served(postgres({ url: server.url, namespace: 'both' }), 'c');
    const b = await served(postgres({ url: server.url, namespace: 'both' }), 'c');
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < 200; i++) {
      sends.push((i % 2 === 0 ? a : b).ev.publish('c', { event: 'n', data: i }));
      // Now and then wait, so batches of both processes interleave in the sequence.
      if (i % 7 === 0) await sends[sends.length - 1];
    }
    await Promise.all(sends);
    for (const { client } of [a, b]) {
      await client.waitFor((c) => c.named('n').length >= 200, 30_000, 'all 200 events');
      const got = seqs(client);
      expect(new Set(got).size).toBe(200);
      expect(got).toEqual([...got].sort((x, y) => x - y));
      expect([...values(client)].sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    }
  }, 60_000);
});
