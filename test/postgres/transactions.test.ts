// Transactional publish against a real PostgreSQL: 1,000 publishIn() calls in the app's own
// transactions on 4 connections, with random rollbacks and random commit delays; a real SSE
// client gets exactly the committed events, in sequence order, none rolled back, no stream-reset.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, events } from '../../dist/index.js';
import { migrationSql, postgres, postgresStore } from '../../dist/postgres.js';
import { type PostgresInstance, startPostgres } from '../helpers/postgres.js';
import { startServer } from '../helpers/server.js';
import { connect } from '../helpers/sse-client.js';

let server: PostgresInstance;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await server.stop();
});

describe('publishIn()', () => {
  it('1,000 transactional publishes, random rollbacks and commit delays on 4 connections: the client gets exactly the committed ones, in order, no reset', async () => {
    const engine = postgres({ url: server.url, namespace: 'tx', maxEventsPerChannel: 10_000 });
    const ev = events({ ...engine, keepAlive: false });
    ev.on('error', () => {});
    cleanups.push(() => ev.close());
    const http = await startServer(createHandler({ events: ev }));
    cleanups.push(() => http.close());
    const client = await connect(http.url('/?channel=orders'), { accept: 'text/event-stream' });
    cleanups.push(() => client.close());
    await client.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');

    const pools = Array.from({ length: 4 }, () => {
      const pool = new pg.Pool({ connectionString: server.url, max: 1 });
      pool.on('error', () => {});
      return pool;
    });
    cleanups.push(() => Promise.all(pools.map((p) => p.end())).then(() => undefined));
    const total = 1000;
    const committed = new Set<number>();
    const rolledBack = new Set<number>();
    let next = 0;
    await Promise.all(
      pools.map(async (pool) => {
        const conn = await pool.connect();
        try {
          while (next < total) {
            const n = ++next;
            await conn.query('BEGIN');
            await conn.query('CREATE TEMP TABLE IF NOT EXISTS app_orders (n int) ON COMMIT DELETE ROWS');
            await conn.query('INSERT INTO app_orders VALUES ($1)', [n]);
            await engine.history.publishIn(conn, 'orders', { event: 'created', data: { n } });
            if (Math.random() < 0.1) await conn.query('SELECT pg_sleep($1)', [Math.random() * 0.01]);
            if (Math.random() < 0.25) {
              await conn.query('ROLLBACK');
              rolledBack.add(n);
            } else {
              await conn.query('COMMIT');
              committed.add(n);
            }
          }
        } finally {
          conn.release();
        }
      }),
    );
    expect(committed.size + rolledBack.size).toBe(total);
    await client.waitFor((c) => c.named('created').length >= committed.size, 60_000, 'every committed event');
    const got = client.named('created');
    const ns = got.map((e) => (JSON.parse(e.data) as { n: number }).n);
    // Exactly the committed ones, each once.
    expect(ns.length).toBe(committed.size);
    expect(new Set(ns)).toEqual(committed);
    // In sequence order, without a gap: a rollback took no seq.
    const seqs = got.map((e) => Number(e.id!.split('-')[1]));
    const first = seqs[0]!;
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => first + i));
    expect(client.named('stream-reset')).toEqual([]);
    // Nothing more arrives after a moment's further reading (no rolled-back event, no duplicate).
    await ev.publish('orders', { event: 'marker', data: 1 });
    await client.waitFor((c) => c.named('marker').length === 1, 15_000, 'the marker');
    expect(client.named('created')).toHaveLength(committed.size);
  }, 180_000);

  it('the outbox sequencer and a starting process (its migration) running together: no deadlock, every event sequenced', async () => {
    const store = postgresStore({ url: server.url, namespace: 'mig' });
    cleanups.push(() => store.close());
    await store.epoch();
    const sequence = () => (store as unknown as { sequence(): Promise<number> }).sequence();
    const [writer, migrator] = [
      new pg.Client({ connectionString: server.url }),
      new pg.Client({ connectionString: server.url }),
    ];
    for (const c of [writer, migrator]) {
      c.on('error', () => {});
      await c.connect();
      cleanups.push(() => c.end());
    }
    let running = true;
    // A process starting: the migration as the store runs it (one implicit transaction under the
    // advisory lock), over and over. It used to lock events and then outbox, the sequencer outbox
    // and then events: "deadlock detected" within a few hundred rounds.
    const migrations = (async () => {
      let runs = 0;
      while (running) {
        await migrator.query(`SELECT pg_advisory_xact_lock(${0x656573}, 0); ${migrationSql()}`);
        runs++;
      }
      return runs;
    })();
    const total = 400;
    try {
      for (let n = 1; n <= total; n++) {
        await store.publishIn(writer, 'm', { event: 'n', data: n });
        await sequence();
      }
    } finally {
      running = false;
    }
    expect(await migrations).toBeGreaterThan(0);
    const read = await store.readAfter(['m'], 0, total + 1);
    expect(read.records.map((r) => Number(/data: (\d+)/.exec(r.body)![1]))).toEqual(
      Array.from({ length: total }, (_, i) => i + 1),
    );
  }, 120_000);
});
