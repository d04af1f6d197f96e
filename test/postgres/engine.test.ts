// The whole engine on one real PostgreSQL (`postgres()` → history, bus, control, state): a
// revocation sent by one process closes a stream on another, a stop request reaches the producer
// in another process, presence is seen across processes; and the state and control parts on their
// own: expiry by the database's clock, foreign rows and notifications dropped, a resync after the
// LISTEN connection was terminated.
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events } from '../../dist/index.js';
import { postgres } from '../../dist/postgres.js';
import type { SharedState } from '../../src/index.js';
import { type PostgresInstance, startPostgres } from '../helpers/postgres.js';
import { connect, until } from '../helpers/sse-client.js';
import { checkCompareAndSet } from '../helpers/state-cas.js';
import { startPeer } from './peer-process.js';

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!';
let server: PostgresInstance;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await server.stop();
});

const token = (sub: string) =>
  new SignJWT({ sub, channels: ['room:*'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));

/** A pg client of the test's own, for looking at and planting rows. */
async function sql(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: server.url });
  client.on('error', () => {});
  await client.connect();
  cleanups.push(() => client.end().catch(() => {}));
  return client;
}

// How features reach the running engine (not public API).
interface Running {
  control: {
    send(topic: string, payload: unknown): Promise<void>;
    on(t: string, h: (p: unknown) => void): void;
  };
  state: {
    put(s: string, k: string, v: string, ttl: number): Promise<void>;
    compareAndSet(
      s: string,
      k: string,
      expected: string | undefined,
      v: string,
      ttl: number,
    ): Promise<boolean>;
    get(s: string, k: string): Promise<string | undefined>;
    delete(s: string, k: string): Promise<boolean>;
    entries(s: string, limit?: number): Promise<Array<[string, string]>>;
    count(s: string): Promise<number>;
  };
}

/** A control channel's counters (internal, for tests). */
const controlStats = (n: { engine: ReturnType<typeof postgres> }) =>
  (n.engine.control as unknown as { stats: { dropped: number; resyncs: number } }).stats;

function namespace(name: string) {
  const engine = postgres({ url: server.url, namespace: name });
  const ev = events({ ...engine, keepAlive: false });
  const errors: Error[] = [];
  ev.on('error', (e: Error) => errors.push(e));
  cleanups.push(() => ev.close());
  const running = (ev as unknown as Record<symbol, { engine: Running }>)[
    Symbol.for('express-eventstream.core')
  ]!.engine;
  return { ev, engine, errors, running };
}

describe('postgres(): control and state across processes', () => {
  it('returns the four parts of an engine', () => {
    const engine = postgres({ url: server.url, namespace: 'parts' });
    cleanups.push(() => Promise.all([engine.bus.close(), engine.control.close()]).then(() => undefined));
    expect(Object.keys(engine).sort()).toEqual(['bus', 'control', 'history', 'state']);
  });

  it('a revocation on process a closes the stream on process b and refuses its reconnect there; presence and a stop request cross too', async () => {
    const env = { DATABASE_URL: server.url, NS: 'two', SECRET };
    const [a, b] = await Promise.all([startPeer(env, cleanups), startPeer(env, cleanups)]);
    const open = async (sub: string) => {
      const es = await connect(b.url('/events?channel=room:1'), {
        accept: 'text/event-stream',
        authorization: `Bearer ${await token(sub)}`,
      });
      cleanups.push(() => es.close());
      await es.waitFor((c) => c.named('stream-open').length === 1 || c.ended, 15_000, 'stream-open');
      return es;
    };
    const alice = await open('alice');
    const bob = await open('bob');
    expect(alice.named('stream-open')).toHaveLength(1);
    // Presence: b's members, listed by a.
    await until(
      async () => {
        const r = await a.call('/presence?channel=room:1', 'GET');
        return (r.body.members as Array<{ id: string }> | undefined)?.length === 2;
      },
      15_000,
      'both members listed on a',
    );
    // Revocation: sent by a, closes alice's stream on b (and only hers).
    expect((await a.call('/revoke?sub=alice')).status).toBe(200);
    await alice.waitFor((c) => c.ended, 15_000, 'alice closed on b');
    expect(JSON.parse(alice.named('stream-error')[0]!.data).condition).toBe('revoked');
    expect(bob.ended).toBe(false);
    const again = await open('alice');
    expect(JSON.parse(again.named('stream-error')[0]?.data ?? '{}').condition).toBe('revoked');
    // A response stream produced on a, stopped by a request on b.
    expect((await a.call('/produce?id=gen-1')).status).toBe(200);
    expect((await b.call('/stop?id=gen-1')).body).toEqual({ outcome: 'stopping' });
    await until(
      async () => (await a.call('/produced?id=gen-1', 'GET')).body.stopped === true,
      15_000,
      'the producer on a to see the stop',
    );
    expect(a.errors() + b.errors()).toBe('');
  }, 90_000);

  it('state: compareAndSet — of writers racing from one expected value on their own pools, exactly one wins', async () => {
    const states = [0, 1, 2, 3].map(() => namespace('cas').running.state as unknown as SharedState);
    await checkCompareAndSet(states, 'cas');
  }, 60_000);

  it('state: values expire by the database clock, delete says whether one was live, rows the library cannot have written are skipped', async () => {
    const { running } = namespace('state');
    const { state } = running;
    await state.put('s', 'k1', 'v1', 60_000);
    await state.put('s', 'k2', 'v2', 300);
    expect(await state.get('s', 'k1')).toBe('v1');
    expect(await state.count('s')).toBe(2);
    await until(async () => (await state.get('s', 'k2')) === undefined, 10_000, 'k2 to expire');
    expect(await state.entries('s')).toEqual([['k1', 'v1']]);
    expect(await state.count('s')).toBe(1);
    // Planted: an entry "expiring" in a year is not one put() can write.
    const client = await sql();
    await client.query(
      `INSERT INTO ees_state (ns, scope, key, value, expires_at) VALUES ('state', 's', 'planted', 'x', now() + interval '365 days')`,
    );
    expect(await state.get('s', 'planted')).toBeUndefined();
    expect(await state.entries('s')).toEqual([['k1', 'v1']]);
    expect(await state.delete('s', 'k1')).toBe(true);
    expect(await state.delete('s', 'k1')).toBe(false);
    // Another namespace in the same table sees none of it.
    const other = namespace('state-other').running.state;
    await state.put('s', 'shared-name', 'mine', 60_000);
    expect(await other.get('s', 'shared-name')).toBeUndefined();
    // Text PostgreSQL cannot hold is refused before anything is sent.
    await expect(state.put('s', 'nul\u0000', 'v', 1000)).rejects.toMatchObject({
      code: 'ERR_SSE_INVALID_OPTION',
    });
    // A put sweeps its scope's expired rows: they do not pile up.
    for (let i = 0; i < 20; i++) await state.put('sweep', `k${i}`, 'v', 1);
    await until(async () => (await state.count('sweep')) === 0, 10_000, 'all expired');
    await state.put('sweep', 'last', 'v', 60_000);
    const rows = await client.query(
      `SELECT count(*)::int AS n FROM ees_state WHERE ns = 'state' AND scope = 'sweep'`,
    );
    expect(rows.rows[0].n).toBe(1);
  }, 60_000);

  it('control: each sender in order, identical messages all delivered, foreign text dropped, a resync after the LISTEN connection is terminated', async () => {
    const a = namespace('ctl');
    const b = namespace('ctl');
    const client = await sql();
    const listening = async () =>
      (
        await client.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN "ees_ctl.control"%'`,
        )
      ).rows[0].n;
    await until(async () => (await listening()) === 2, 15_000, 'both listening');
    const got = { a: [] as unknown[], b: [] as unknown[] };
    a.running.control.on('t', (p) => got.a.push(p));
    b.running.control.on('t', (p) => got.b.push(p));
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      sends.push(a.running.control.send('t', { from: 'a', i }));
      sends.push(b.running.control.send('t', { from: 'b', i }));
      sends.push(a.running.control.send('t', 'same'));
    }
    await Promise.all(sends);
    await until(() => got.a.length === 600 && got.b.length === 600, 15_000, 'all messages');
    for (const list of [got.a, got.b]) {
      expect(list.filter((m) => m === 'same')).toHaveLength(200);
      for (const from of ['a', 'b']) {
        const mine = list
          .filter((m) => (m as { from?: string }).from === from)
          .map((m) => (m as { i: number }).i);
        expect(mine).toEqual(Array.from({ length: 200 }, (_, i) => i));
      }
    }
    // Foreign text on the channel is never delivered.
    await client.query(
      `SELECT pg_notify('ees_ctl.control', 'not ours'), pg_notify('ees_ctl.control', '{"t":"t"}')`,
    );
    await a.running.control.send('t', 'after');
    await until(() => got.a.at(-1) === 'after', 10_000, 'the message after');
    expect(got.a).toHaveLength(601);
    expect(controlStats(a).dropped).toBe(2);
    // Over the cap: refused before sending.
    await expect((async () => a.running.control.send('t', 'x'.repeat(8000)))()).rejects.toMatchObject({
      code: 'ERR_SSE_INVALID_OPTION',
    });
    // The LISTEN connection terminated: a resync once it listens again.
    const pid = a.engine.control.listenerPid;
    expect(pid).toBeTypeOf('number');
    await client.query('SELECT pg_terminate_backend($1)', [pid]);
    await until(() => controlStats(a).resyncs === 1, 15_000, 'a resync');
    expect(a.engine.control.listenerPid).not.toBe(pid);
    await b.running.control.send('t', 'back');
    await until(() => got.a.at(-1) === 'back', 10_000, 'messages after the reconnect');
  }, 60_000);
});
