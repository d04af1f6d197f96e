// examples/orders-postgres as `npm run example:orders-postgres` runs it, on a private PostgreSQL
// cluster: an order's `created` event reaches subscribers only once the order committed; an order
// whose transaction rolls back (out of stock, after its event was written) is never seen, and
// leaves no hole in the ids.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresInstance, startPostgres } from '../helpers/postgres.js';
import { connect, type SseClient } from '../helpers/sse-client.js';
import { type ExampleProcess, startExample } from './example-process.js';

let database: PostgresInstance;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

beforeAll(async () => {
  database = await startPostgres();
});
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
afterAll(async () => {
  await database?.stop();
});

async function example(): Promise<ExampleProcess> {
  const p = await startExample('orders-postgres', { DATABASE_URL: database.url });
  cleanups.push(() => p.stop());
  return p;
}

async function order(base: string, item: string, quantity: number) {
  const res = await fetch(`${base}orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ item, quantity }),
  });
  return { status: res.status, body: (await res.json()) as { id?: number; error?: string } };
}

async function follow(base: string, lastEventId?: string): Promise<SseClient> {
  const c = await connect(`${base}orders/events`, {
    accept: 'text/event-stream',
    ...(lastEventId !== undefined && { 'last-event-id': lastEventId }),
  });
  cleanups.push(() => c.close());
  await c.waitFor((x) => x.named('stream-open').length === 1, 10_000, 'stream-open');
  return c;
}

const created = (c: SseClient) =>
  c.named('created').map((e) => JSON.parse(e.data) as { id: number; item: string });

describe('examples/orders-postgres', () => {
  it('order events commit with the order: committed orders arrive in order with consecutive ids, a rolled-back one never; a second process resumes them', async () => {
    const app = await example();
    const c = await follow(app.url);
    expect((await order(app.url, 'tea', 2)).status).toBe(201);
    // cocoa has 3 in stock: the second cocoa order fails its stock check after its event was written.
    expect((await order(app.url, 'cocoa', 2)).status).toBe(201);
    expect(await order(app.url, 'cocoa', 2)).toEqual({ status: 409, body: { error: 'out of stock' } });
    expect((await order(app.url, 'coffee', 1)).status).toBe(201);
    await c.waitFor((x) => created(x).length >= 3, 15_000, 'three order events');
    const committed = (await (await fetch(`${app.url}orders`)).json()) as Array<{ id: number; item: string }>;
    expect(committed.map((o) => o.item)).toEqual(['tea', 'cocoa', 'coffee']);
    expect(created(c)).toEqual(committed);
    const seqs = c.named('created').map((e) => Number(e.id!.split('-')[1]));
    expect(seqs).toEqual([seqs[0]!, seqs[0]! + 1, seqs[0]! + 2]);
    expect(c.named('stream-reset')).toEqual([]);

    // Another process of the same app on the same database resumes from the first event's id.
    const other = await example();
    const resumed = await follow(other.url, c.named('created')[0]!.id);
    await resumed.waitFor((x) => created(x).length === 2, 10_000, 'the two later orders');
    expect(created(resumed)).toEqual(committed.slice(1));
  }, 60_000);
});
