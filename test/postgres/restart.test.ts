// The Postgres engine while its server goes away, against real servers: the server stopped by PID
// (immediate shutdown) and started again on the same data dir and port while a client is connected
// and a publisher keeps publishing; and a failover to a new, empty server on the same URL.
import { afterAll, describe, expect, it } from 'vitest';
import { createHandler, events } from '../../dist/index.js';
import { postgres } from '../../dist/postgres.js';
import { type PostgresInstance, startPostgres } from '../helpers/postgres.js';
import { startServer } from '../helpers/server.js';
import { connect, until } from '../helpers/sse-client.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function database(options: { port?: number } = {}): Promise<PostgresInstance> {
  // synchronous_commit on: an immediate shutdown then keeps every commit it acknowledged.
  const pg = await startPostgres({ ...options, config: { synchronous_commit: 'on' } });
  cleanups.push(() => pg.stop());
  return pg;
}

function serve(engine: ReturnType<typeof postgres>) {
  const ev = events({ ...engine, keepAlive: false });
  ev.on('error', () => {});
  cleanups.push(() => ev.close());
  return ev;
}

interface Failure {
  code?: string;
  cause?: { code?: string; endpoint?: string; outcome?: string };
}

/** The documented bound of a publish while the server is away: acquireTimeoutMs + statementTimeoutMs. */
const ACQUIRE_MS = 1500;
const STATEMENT_MS = 2000;

describe('Postgres engine: the server goes away', () => {
  it('restarted mid-stream (stopped by PID, started on the same data dir and port): the client gets every event whose publish resolved, once, in order; publishes meanwhile reject in time, naming the endpoint; LISTEN comes back', async () => {
    const server = await database();
    const options = { acquireTimeoutMs: ACQUIRE_MS, statementTimeoutMs: STATEMENT_MS };
    // No periodic check on the receiver: only the LISTEN connection's return can wake it.
    const receiver = postgres({
      url: server.url,
      namespace: 'restart',
      ...options,
      bus: { checkIntervalMs: false },
    });
    const ev = serve(receiver);
    const publisher = serve(postgres({ url: server.url, namespace: 'restart', ...options }));
    const http = await startServer(createHandler({ events: ev }));
    cleanups.push(() => http.close());
    const client = await connect(http.url('/?channel=c'), { accept: 'text/event-stream' });
    cleanups.push(() => client.close());
    await client.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');
    await until(async () => receiver.bus.listenerPid !== undefined, 15_000, 'LISTEN up');
    const listenerBefore = receiver.bus.listenerPid;

    const resolved: number[] = [];
    const notStored: number[] = [];
    const unknown: number[] = [];
    const failures: Array<{ ms: number; error: Failure }> = [];
    // Read by the publishing loop while the test moves on: an object, so no narrowing freezes it.
    const run = { restarted: false, resolvedAfter: 0 };
    let n = 0;
    const publishing = (async () => {
      while (!run.restarted || run.resolvedAfter < 50) {
        const i = ++n;
        const started = performance.now();
        try {
          await publisher.publish('c', { event: 'n', data: i });
          resolved.push(i);
          if (run.restarted) run.resolvedAfter++;
        } catch (e) {
          const error = e as Failure;
          failures.push({ ms: performance.now() - started, error });
          (error.cause?.outcome === 'unknown' ? unknown : notStored).push(i);
        }
      }
    })();
    await until(async () => resolved.length >= 30, 30_000, '30 publishes before the restart');
    await server.crash();
    await until(async () => failures.length >= 3, 30_000, 'publishes failing while the server is down');
    await server.start();
    run.restarted = true;
    await publishing;

    expect(failures.length).toBeGreaterThanOrEqual(3);
    for (const f of failures) {
      expect(f.error.code).toBe('ERR_SSE_STORE');
      expect(f.error.cause).toMatchObject({ code: 'ERR_SSE_POSTGRES' });
      expect(f.error.cause?.endpoint).toContain(`127.0.0.1:${server.port}`);
      expect(['not-stored', 'unknown']).toContain(f.error.cause?.outcome);
      // The documented bound, with room for a loaded machine's timers.
      expect(f.ms).toBeLessThan(ACQUIRE_MS + STATEMENT_MS + 2000);
    }
    const last = resolved[resolved.length - 1]!;
    await client.waitFor(
      (c) => c.named('n').some((e) => Number(e.data) === last),
      30_000,
      'the last resolved event',
    );
    const got = client.named('n').map((e) => Number(e.data));
    // Exactly once, in order: every resolved publish; an unknown one at most once; no refused one.
    expect(new Set(got).size).toBe(got.length);
    expect([...got].sort((a, b) => a - b)).toEqual(got);
    expect(got.filter((i) => !unknown.includes(i))).toEqual(resolved);
    for (const i of notStored) expect(got).not.toContain(i);
    expect(client.named('stream-reset')).toEqual([]);
    // Ids follow the sequence without a hole but for refused publishes.
    const seqs = client.named('n').map((e) => Number(e.id!.split('-')[1]));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, k) => seqs[0]! + k));
    // The LISTEN connection came back by itself (a new backend).
    await until(async () => receiver.bus.listenerPid !== undefined, 15_000, 'LISTEN back');
    expect(receiver.bus.listenerPid).not.toBe(listenerBefore);
  }, 180_000);

  it('failover to a new server with an empty database on the same URL: a new epoch; live clients and a client resuming with an old id get stream-reset unknown-id, never wrong events; publishing works on', async () => {
    const first = await database();
    const options = { acquireTimeoutMs: ACQUIRE_MS, statementTimeoutMs: STATEMENT_MS };
    const engine = postgres({ url: first.url, namespace: 'failover', ...options });
    const ev = serve(engine);
    const http = await startServer(createHandler({ events: ev }));
    cleanups.push(() => http.close());
    const live = await connect(http.url('/?channel=c'), { accept: 'text/event-stream' });
    cleanups.push(() => live.close());
    await live.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');
    for (let i = 1; i <= 20; i++) await ev.publish('c', { event: 'old', data: i });
    await live.waitFor((c) => c.named('old').length === 20, 15_000, 'the old events');
    const oldId = live.named('old')[19]!.id!;
    const oldEpoch = oldId.split('-')[0]!;
    const resumeFrom = live.named('old')[4]!.id!;

    // The old server is gone with its data; a fresh initdb answers on the same port.
    await first.stop();
    const second = await database({ port: first.port });
    expect(second.url).toBe(first.url);

    // New publishes work (a publish may fail while the pool finds the old connections dead).
    await until(
      async () =>
        ev.publish('c', { event: 'new', data: 1 }).then(
          () => true,
          () => false,
        ),
      30_000,
      'a publish on the new server',
    );
    for (let i = 2; i <= 5; i++) await ev.publish('c', { event: 'new', data: i });
    const newEpoch = await engine.history.epoch();
    expect(newEpoch).not.toBe(oldEpoch);

    // The live client: a reset into the new epoch, then every new event, none of the old again.
    await live.waitFor((c) => c.named('new').length === 5, 30_000, 'the new events on the live stream');
    const resets = live.named('stream-reset');
    expect(resets).toHaveLength(1);
    expect(JSON.parse(resets[0]!.data)).toMatchObject({ reason: 'unknown-id' });
    expect(resets[0]!.id!.startsWith(`${newEpoch}-`)).toBe(true);
    expect(live.named('old')).toHaveLength(20);
    expect(live.named('new').map((e) => Number(e.data))).toEqual([1, 2, 3, 4, 5]);
    expect(live.named('new').every((e) => e.id!.startsWith(`${newEpoch}-`))).toBe(true);
    // The reset comes before the first new event.
    const order = live.events.filter((e) => e.event === 'stream-reset' || e.event === 'new');
    expect(order[0]!.event).toBe('stream-reset');

    // A client resuming with an id of the old epoch (its seq exists in the new one too).
    const resumed = await connect(http.url('/?channel=c'), {
      accept: 'text/event-stream',
      'last-event-id': resumeFrom,
    });
    cleanups.push(() => resumed.close());
    await resumed.waitFor((c) => c.named('stream-reset').length === 1, 15_000, 'the resumed stream-reset');
    expect(JSON.parse(resumed.named('stream-reset')[0]!.data)).toMatchObject({ reason: 'unknown-id' });
    expect(resumed.named('old')).toEqual([]);
    await ev.publish('c', { event: 'new', data: 6 });
    await resumed.waitFor((c) => c.named('new').some((e) => e.data === '6'), 15_000, 'a new event after');
    expect(resumed.named('old')).toEqual([]);
    expect(resumed.named('new').every((e) => e.id!.startsWith(`${newEpoch}-`))).toBe(true);
  }, 180_000);
});
