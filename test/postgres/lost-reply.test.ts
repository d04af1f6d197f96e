// A publish whose connection fails around its append, through a TCP proxy between the library and
// a real PostgreSQL: the reply lost after the server committed (the publish resolves, stored once),
// the request cut before it reached the server (rejects with outcome 'not-stored', truly not
// stored), and the reply lost while the server cannot be asked again (outcome 'unknown').
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, events } from '../../dist/index.js';
import { postgres } from '../../dist/postgres.js';
import { type PostgresInstance, startPostgres } from '../helpers/postgres.js';
import { startServer } from '../helpers/server.js';
import { connect } from '../helpers/sse-client.js';
import { containing, startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

let server: PostgresInstance;
let proxy: TcpProxy;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startPostgres();
  proxy = await startTcpProxy({ port: server.port });
});
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await proxy.close();
  await server.stop();
});

/** An events() on the proxied URL, a direct one for reading back, and a client on the first. */
async function setup(namespace: string, poolSize?: number) {
  const proxied = server.url.replace(`:${server.port}/`, `:${proxy.port}/`);
  const engine = postgres({
    url: proxied,
    namespace,
    acquireTimeoutMs: 2000,
    statementTimeoutMs: 3000,
    poolSize,
  });
  const ev = events({ ...engine, keepAlive: false });
  ev.on('error', () => {});
  cleanups.push(() => ev.close());
  const direct = postgres({ url: server.url, namespace });
  cleanups.push(() => direct.history.close());
  const http = await startServer(createHandler({ events: ev }));
  cleanups.push(() => http.close());
  const client = await connect(http.url('/?channel=c'), { accept: 'text/event-stream' });
  cleanups.push(() => client.close());
  await client.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');
  // The migration ran and the append is prepared: later appends send only its name and their
  // parameters, so each fault below matches its publish by the event's data.
  await ev.publish('c', { event: 'n', data: 'first' });
  await client.waitFor((c) => c.named('n').length === 1, 15_000, 'the first event');
  const stored = async () => (await direct.history.readAfter(['c'], 0)).records.map((r) => r.body);
  return { ev, client, stored };
}

type Failure = {
  code?: string;
  cause?: { code?: string; outcome?: string; endpoint?: string; message?: string };
};

describe('Postgres engine: a lost reply or request', () => {
  it('the reply lost after the server committed the append: the publish resolves, the event stored and delivered once', async () => {
    const { ev, client, stored } = await setup('cut-after');
    const cut = proxy.fault(containing('lost-reply'), { kind: 'cut-after-reply' });
    await ev.publish('c', { event: 'n', data: 'lost-reply' });
    await cut;
    await ev.publish('c', { event: 'n', data: 'after' });
    await client.waitFor(
      (c) => c.named('n').some((e) => JSON.parse(e.data) === 'after'),
      15_000,
      'the later event',
    );
    expect(client.named('n').map((e) => JSON.parse(e.data) as string)).toEqual([
      'first',
      'lost-reply',
      'after',
    ]);
    expect((await stored()).filter((b) => b.includes('lost-reply'))).toHaveLength(1);
    const seqs = client.named('n').map((e) => Number(e.id!.split('-')[1]));
    expect(seqs).toEqual([seqs[0]!, seqs[0]! + 1, seqs[0]! + 2]);
  }, 60_000);

  it('with idempotency keys, the reply lost after the commit: the publishes resolve, the repeats (of an earlier append and within it) neither stored nor delivered', async () => {
    const { ev, client, stored } = await setup('cut-keys');
    await ev.publish('c', { event: 'n', data: 'kept' }, { idempotencyKey: 'k-a' });
    await client.waitFor((c) => c.named('n').length === 2, 15_000, 'the keyed event');
    const cut = proxy.fault(containing('keyed-cut'), { kind: 'cut-after-reply' });
    // One append (one tick): a repeat of an earlier key, a new key, its repeat, an event without one.
    await Promise.all([
      ev.publish('c', { event: 'n', data: 'again' }, { idempotencyKey: 'k-a' }),
      ev.publish('c', { event: 'n', data: 'keyed-cut' }, { idempotencyKey: 'k-b' }),
      ev.publish('c', { event: 'n', data: 'repeat' }, { idempotencyKey: 'k-b' }),
      ev.publish('c', { event: 'n', data: 'plain' }),
    ]);
    await cut;
    await ev.publish('c', { event: 'n', data: 'after' }, { idempotencyKey: 'k-b' });
    await ev.publish('c', { event: 'n', data: 'last' });
    await client.waitFor(
      (c) => c.named('n').some((e) => JSON.parse(e.data) === 'last'),
      15_000,
      'the last event',
    );
    expect(client.named('n').map((e) => JSON.parse(e.data) as string)).toEqual([
      'first',
      'kept',
      'keyed-cut',
      'plain',
      'last',
    ]);
    const bodies = await stored();
    for (const data of ['again', 'repeat', 'after']) expect(bodies.some((b) => b.includes(data))).toBe(false);
    expect(bodies.filter((b) => b.includes('keyed-cut'))).toHaveLength(1);
  }, 60_000);

  it('the request cut before it reached the server: the publish rejects with outcome not-stored, and it is not stored', async () => {
    const { ev, client, stored } = await setup('cut-before');
    const cut = proxy.fault(containing('never'), { kind: 'cut-before' });
    const err = (await ev.publish('c', { event: 'n', data: 'never' }).then(
      () => undefined,
      (e: unknown) => e,
    )) as Failure | undefined;
    await cut;
    expect(err?.code).toBe('ERR_SSE_STORE');
    expect(err?.cause).toMatchObject({ code: 'ERR_SSE_POSTGRES', outcome: 'not-stored' });
    expect(err?.cause?.endpoint).toContain(`127.0.0.1:${proxy.port}`);
    await ev.publish('c', { event: 'n', data: 'after' });
    await client.waitFor(
      (c) => c.named('n').some((e) => JSON.parse(e.data) === 'after'),
      15_000,
      'the later event',
    );
    expect(client.named('n').map((e) => JSON.parse(e.data) as string)).toEqual(['first', 'after']);
    expect((await stored()).some((b) => b.includes('never'))).toBe(false);
  }, 60_000);

  it('the reply lost and the server unreachable to ask: the publish rejects with outcome unknown (and it was stored once)', async () => {
    const { ev, client, stored } = await setup('unknown', 1);
    const cut = proxy.fault(containing('maybe'), { kind: 'cut-after-reply' });
    const publishing = ev.publish('c', { event: 'n', data: 'maybe' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await cut;
    // Before the library notices the cut: no new connection gets through, and the pool's only
    // one was the cut one.
    proxy.refuse(true);
    const err = (await publishing) as Failure | undefined;
    proxy.refuse(false);
    expect(err?.code).toBe('ERR_SSE_STORE');
    expect(err?.cause).toMatchObject({ code: 'ERR_SSE_POSTGRES', outcome: 'unknown' });
    expect(err?.cause?.message).toContain('outcome unknown');
    expect((await stored()).filter((b) => b.includes('maybe'))).toHaveLength(1);
    // Delivered once all the same (it is in the log), with what follows.
    await ev.publish('c', { event: 'n', data: 'after' });
    await client.waitFor(
      (c) => c.named('n').some((e) => JSON.parse(e.data) === 'after'),
      30_000,
      'the later event',
    );
    expect(client.named('n').map((e) => JSON.parse(e.data) as string)).toEqual(['first', 'maybe', 'after']);
  }, 60_000);
});
