// Idempotency keys on the Postgres engine (`publish(…, { idempotencyKey })`), against a real
// server: a repeat is stored once and not delivered again, two processes racing one key store one
// event, a repeat within one append, the window (expiry, trim), a foreign key row refused, a
// database of the previous schema upgraded in place, and a response stream ended from two
// processes storing one end.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, events, streamHandler } from '../../dist/index.js';
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

/** The store's internal parts a test drives directly (retention, the sequencer). */
type Internals = { trim(): Promise<number>; sequence(): Promise<number> };
const internals = (s: ReturnType<typeof postgresStore>) => s as unknown as Internals;

function store(namespace: string, options: Parameters<typeof postgresStore>[0] = {}) {
  const s = postgresStore({ url: server.url, namespace, ...options });
  cleanups.push(() => s.close());
  return s;
}

/** A pg client of the test's own, for looking at and planting rows. */
async function sql(url = server.url): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  cleanups.push(() => client.end().catch(() => {}));
  return client;
}

const body = (n: number | string) => `event: n\ndata: ${n}\n\n`;

/** How many events of a namespace are stored (on a channel, when given). */
async function storedCount(db: pg.Client, ns: string, channel?: string): Promise<number> {
  const r = await db.query(
    'SELECT count(*)::int AS n FROM ees_events WHERE ns = $1 AND ($2::text IS NULL OR channel = $2)',
    [ns, channel ?? null],
  );
  return r.rows[0].n as number;
}

describe('Postgres engine: idempotency keys', () => {
  it("the same key twice: one stored event; the repeat resolves with the first one's id and is not delivered again", async () => {
    const engine = postgres({ url: server.url, namespace: 'twice' });
    const ev = events({ ...engine, keepAlive: false });
    ev.on('error', () => {});
    cleanups.push(() => ev.close());
    const http = await startServer(createHandler({ events: ev }));
    cleanups.push(() => http.close());
    const client = await connect(http.url('/?channel=c'), { accept: 'text/event-stream' });
    cleanups.push(() => client.close());
    await client.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');

    await ev.publish('c', { event: 'n', data: 'once' }, { idempotencyKey: 'order-1' });
    await ev.publish('c', { event: 'n', data: 'again' }, { idempotencyKey: 'order-1' });
    await ev.publish('c', { event: 'n', data: 'other' }, { idempotencyKey: 'order-2' });
    await ev.publish('c', { event: 'n', data: 'no key' });
    await client.waitFor((c) => c.named('n').length >= 3, 15_000, 'three events');
    await ev.publish('c', { event: 'n', data: 'last' });
    await client.waitFor((c) => c.named('n').length >= 4, 15_000, 'the last event');
    expect(client.named('n').map((e) => JSON.parse(e.data) as string)).toEqual([
      'once',
      'other',
      'no key',
      'last',
    ]);
    const db = await sql();
    expect(await storedCount(db, 'twice', 'c')).toBe(4);

    // What the store answers a repeat: the original's seqs, marked as a duplicate.
    const first = client.named('n')[0]!.id!;
    const [epoch, seq] = first.split('-');
    const again = await engine.history.append([{ channel: 'c', body: body('x'), key: 'order-1' }]);
    expect(again).toEqual({ epoch, events: [{ seq: Number(seq), prevSeq: 0, duplicate: true }] });
    expect(await storedCount(db, 'twice', 'c')).toBe(4);
  }, 60_000);

  it('two processes racing 20 appends of one key at once: exactly one stored, all answer its seq', async () => {
    const a = store('race', { poolSize: 10 });
    const b = store('race', { poolSize: 10 });
    await Promise.all([a.epoch(), b.epoch()]);
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? a : b).append([{ channel: 'c', body: body(i), key: 'the-key' }]),
      ),
    );
    const results = outcomes.map((o) => o.events[0]!);
    expect(results.filter((r) => r.duplicate !== true)).toHaveLength(1);
    expect(new Set(results.map((r) => r.seq))).toEqual(new Set([1]));
    expect(results.every((r) => r.prevSeq === 0)).toBe(true);
    const db = await sql();
    expect(await storedCount(db, 'race')).toBe(1);
    const head = await db.query('SELECT head FROM ees_namespaces WHERE ns = $1', ['race']);
    expect(Number(head.rows[0].head)).toBe(1);
  }, 60_000);

  it('a repeat within one append answers the first item of its key; items without a key are all stored', async () => {
    const s = store('within');
    await s.append([{ channel: 'a', body: body(0) }]);
    const out = await s.append([
      { channel: 'a', body: body(1), key: 'k1' },
      { channel: 'b', body: body(2) },
      { channel: 'a', body: body(3), key: 'k1' },
      { channel: 'b', body: body(4), key: 'k2' },
      { channel: 'b', body: body(5) },
      { channel: 'b', body: body(6), key: 'k2' },
    ]);
    expect(out.events).toEqual([
      { seq: 2, prevSeq: 1 },
      { seq: 3, prevSeq: 0 },
      { seq: 2, prevSeq: 1, duplicate: true },
      { seq: 4, prevSeq: 3 },
      { seq: 5, prevSeq: 4 },
      { seq: 4, prevSeq: 3, duplicate: true },
    ]);
    const read = await s.readAfter(['a', 'b'], 0);
    expect(read.records.map((r) => r.body)).toEqual([body(0), body(1), body(2), body(4), body(5)]);
    expect(read.head).toBe(5);
    expect(read.lastSeq).toEqual({ a: 2, b: 5 });
    // An append of nothing but repeats stores nothing and moves no seq.
    const repeats = await s.append([
      { channel: 'a', body: body(7), key: 'k2' },
      { channel: 'a', body: body(8), key: 'k1' },
    ]);
    expect(repeats.events).toEqual([
      { seq: 4, prevSeq: 3, duplicate: true },
      { seq: 2, prevSeq: 1, duplicate: true },
    ]);
    expect((await s.readAfter(['a', 'b'], 0)).head).toBe(5);
  }, 60_000);

  it('keys expire after idempotencyWindowMs: the key publishes again, and the trim deletes expired keys only', async () => {
    const s = store('window', { idempotencyWindowMs: 60_000 });
    await s.append([
      { channel: 'c', body: body(1), key: 'old' },
      { channel: 'c', body: body(2), key: 'young' },
    ]);
    const db = await sql();
    const left = await db.query(
      `SELECT key, extract(epoch FROM expires_at - now()) * 1000 AS ms FROM ees_keys WHERE ns = $1 ORDER BY key`,
      ['window'],
    );
    // The window is the store's option, by the database clock.
    for (const row of left.rows) expect(Number(row.ms)).toBeGreaterThan(50_000);
    for (const row of left.rows) expect(Number(row.ms)).toBeLessThanOrEqual(60_000);
    // The window of 'old' passes (moved into the past rather than waited for).
    await db.query(
      `UPDATE ees_keys SET expires_at = now() - interval '1 millisecond' WHERE ns = $1 AND key = 'old'`,
      ['window'],
    );
    const out = await s.append([
      { channel: 'c', body: body(3), key: 'old' },
      { channel: 'c', body: body(4), key: 'young' },
    ]);
    expect(out.events).toEqual([
      { seq: 3, prevSeq: 2 },
      { seq: 2, prevSeq: 1, duplicate: true },
    ]);
    // Both keys live now ('old' written again); expire 'old' once more and trim.
    await db.query(
      `UPDATE ees_keys SET expires_at = now() - interval '1 millisecond' WHERE ns = $1 AND key = 'old'`,
      ['window'],
    );
    expect(await internals(s).trim()).toBe(1);
    const kept = await db.query('SELECT key FROM ees_keys WHERE ns = $1', ['window']);
    expect(kept.rows.map((r) => r.key)).toEqual(['young']);
    expect(() => postgresStore({ url: server.url, idempotencyWindowMs: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_SSE_INVALID_OPTION', option: 'idempotencyWindowMs' }),
    );
    expect(() => postgresStore({ url: server.url, idempotencyWindowMs: 1.5 })).toThrow(
      expect.objectContaining({ option: 'idempotencyWindowMs' }),
    );
  }, 60_000);

  it('keyed appends from two processes while others start (the migration) and trim: no deadlock, no failure', async () => {
    const a = store('locks', { poolSize: 4 });
    const b = store('locks', { poolSize: 4 });
    await Promise.all([a.epoch(), b.epoch()]);
    const db = await sql();
    const other = await sql();
    let appending = true;
    // A process starting: the migration as the store runs it (one implicit transaction, under its
    // advisory lock), again and again; and retention, which deletes tokens and expired keys.
    const migrations = (async () => {
      let runs = 0;
      while (appending) {
        await db.query(`SELECT pg_advisory_xact_lock(${0x656573}, 0); ${migrationSql()}`);
        runs++;
      }
      return runs;
    })();
    const trims = (async () => {
      while (appending) {
        await other.query(`UPDATE ees_keys SET expires_at = now() WHERE ns = 'locks'`);
        await internals(a).trim();
      }
    })();
    try {
      for (let round = 0; round < 60; round++) {
        await Promise.all(
          [a, b, a, b].map((s, i) =>
            s.append([
              { channel: `c${i}`, body: body(round), key: `r${round}` },
              { channel: 'c', body: body(round) },
              { channel: `c${i}`, body: body(round), key: `r${round}-${i}` },
            ]),
          ),
        );
      }
    } finally {
      appending = false;
    }
    expect(await migrations).toBeGreaterThan(0);
    await trims;
  }, 120_000);

  it('a key row this library did not write is refused with PostgresDataError, nothing stored', async () => {
    const s = store('foreign-key');
    await s.append([{ channel: 'c', body: body(1) }]);
    const db = await sql();
    await db.query(
      `INSERT INTO ees_keys (ns, key, seq, prev_seq, expires_at) VALUES ($1, 'planted', 5, 9, now() + interval '1 hour')`,
      ['foreign-key'],
    );
    await expect(s.append([{ channel: 'c', body: body(2), key: 'planted' }])).rejects.toMatchObject({
      code: 'ERR_SSE_POSTGRES_DATA',
      table: 'ees_keys',
    });
    expect(await storedCount(db, 'foreign-key')).toBe(1);
  }, 60_000);

  it('a database of the previous schema upgrades in place: its events stay, keys work, the old function is gone', async () => {
    const admin = await sql();
    await admin.query('CREATE DATABASE before_keys');
    const url = server.url.replace(/\/postgres$/, '/before_keys');
    const db = await sql(url);
    await db.query(readFileSync(new URL('./fixtures/schema-before-keys.sql', import.meta.url), 'utf8'));
    await db.query(`SELECT * FROM ees_append('old', ARRAY['c'], ARRAY[$1], 'oldepoch', NULL)`, [body(1)]);

    const s = postgresStore({ url, namespace: 'old' });
    cleanups.push(() => s.close());
    const out = await s.append([
      { channel: 'c', body: body(2), key: 'k' },
      { channel: 'c', body: body(3), key: 'k' },
    ]);
    expect(out).toEqual({
      epoch: 'oldepoch',
      events: [
        { seq: 2, prevSeq: 1 },
        { seq: 2, prevSeq: 1, duplicate: true },
      ],
    });
    expect((await s.append([{ channel: 'c', body: body(4), key: 'k' }])).events[0]).toMatchObject({
      duplicate: true,
    });
    expect((await s.readAfter(['c'], 0)).records.map((r) => r.body)).toEqual([body(1), body(2)]);
    const functions = await db.query(
      `SELECT pg_get_function_identity_arguments(oid) AS args FROM pg_proc WHERE proname = 'ees_append'`,
    );
    expect(functions.rows).toHaveLength(1);
    expect(functions.rows[0].args).toContain('p_keys text[]');
    // The sequencer calls the new function: a transactional publish still reaches the log.
    await db.query('BEGIN');
    await s.publishIn(db, 'c', { event: 'n', data: 5 });
    await db.query('COMMIT');
    expect(await internals(s).sequence()).toBe(1);
    expect((await s.readAfter(['c'], 2)).records.map((r) => r.body)).toEqual([body(5)]);
  }, 60_000);

  it("a response stream ended from two processes stores one end: the reader's lost, and the producer's end() is refused", async () => {
    const a = postgres({ url: server.url, namespace: 'streams' });
    const b = postgres({ url: server.url, namespace: 'streams' });
    const evA = events({ ...a, keepAlive: false });
    const evB = events({ ...b, keepAlive: false });
    for (const ev of [evA, evB]) {
      ev.on('error', () => {});
      cleanups.push(() => ev.close());
    }
    const http = await startServer(streamHandler({ events: evB }));
    cleanups.push(() => http.close());
    const s = evA.stream('gen-twice', { heartbeatMs: 60_000 });
    await s.append('partial ');
    // Its status gone between two beats: a reader on process b declares the stream lost.
    await a.state.delete('stream-status', 'gen-twice');
    const reader = await connect(http.url('/streams/gen-twice'), { accept: 'text/event-stream' });
    cleanups.push(() => reader.close());
    await reader.waitFor((c) => c.ended, 15_000, 'the lost ending');
    expect(JSON.parse(reader.events.at(-1)!.data)).toMatchObject({ status: 'lost' });
    // Process a ends it too, with the same idempotency key: not stored again.
    await expect(s.end()).rejects.toMatchObject({ problem: 'lost' });
    const db = await sql();
    const ends = await db.query(
      `SELECT body FROM ees_events WHERE ns = 'streams' AND channel = '~stream/gen-twice' AND body LIKE 'event: end%'`,
    );
    expect(ends.rows).toHaveLength(1);
    expect(ends.rows[0].body).toContain('lost');
  }, 60_000);
});
