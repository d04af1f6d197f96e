// Per-subscriber filters: a stream receives only the events its filter matches, live and
// replayed, and each distinct filter is asked once per event however many streams share it.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventFilter, HttpRequest } from '../src/index.js';
import { type EventsFixture, serveEvents } from './helpers/server.js';
import type { SseClient } from './helpers/sse-client.js';

const fixtures: EventsFixture[] = [];
afterEach(async () => {
  for (const fx of fixtures.splice(0)) await fx.close();
});

/** Calls of `match` per filter key. */
const calls = new Map<string, number>();

/** `?symbol=X` subscribes to events whose data has that symbol; no parameter: everything. */
function bySymbol(req: HttpRequest): EventFilter | undefined {
  const symbol = new URL(req.url ?? '/', 'http://x').searchParams.get('symbol');
  if (symbol === null) return undefined;
  return {
    key: `symbol=${symbol}`,
    match: (event) => {
      calls.set(symbol, (calls.get(symbol) ?? 0) + 1);
      return (event.json() as { symbol?: string }).symbol === symbol;
    },
  };
}

async function serve(): Promise<EventsFixture> {
  const fx = await serveEvents(
    { keepAlive: false, history: { maxEventsPerChannel: 10_000 } },
    { filter: bySymbol },
  );
  fixtures.push(fx);
  return fx;
}

const ticks = (c: SseClient) =>
  c.named('tick').map((e) => JSON.parse(e.data) as { n: number; symbol: string });

async function opened(fx: EventsFixture, path: string, lastEventId?: string): Promise<SseClient> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  const client = await fx.open(path, headers);
  await client.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');
  return client;
}

describe('per-subscriber filters', () => {
  it('live: each stream gets only its matches, one at a time and in batches', async () => {
    const fx = await serve();
    const a = await opened(fx, '/?channel=prices&symbol=A');
    const b = await opened(fx, '/?channel=prices&symbol=B');
    const all = await opened(fx, '/?channel=prices');
    const symbols = ['A', 'B', 'C', 'A', 'B', 'A'];
    // One by one (single-event deliveries), then all in one tick (one batch).
    for (const [n, symbol] of symbols.entries())
      await fx.ev.publish('prices', { event: 'tick', data: { n, symbol } });
    await Promise.all(
      symbols.map((symbol, n) => fx.ev.publish('prices', { event: 'tick', data: { n: n + 6, symbol } })),
    );
    await all.waitFor((c) => c.named('tick').length === 12, 15_000, 'every event');
    await a.waitFor((c) => c.named('tick').length === 6, 15_000, "A's events");
    await b.waitFor((c) => c.named('tick').length === 4, 15_000, "B's events");
    expect(ticks(a).map((t) => t.n)).toEqual([0, 3, 5, 6, 9, 11]);
    expect(ticks(b).map((t) => t.n)).toEqual([1, 4, 7, 10]);
  });

  it('asks each distinct filter once per event, however many streams share it', async () => {
    const fx = await serve();
    const clients: SseClient[] = [];
    // 40 streams, 4 distinct filters.
    for (let k = 0; k < 40; k++) clients.push(await opened(fx, `/?channel=prices&symbol=${'ABCD'[k % 4]}`));
    calls.clear();
    for (let n = 0; n < 10; n++)
      await fx.ev.publish('prices', { event: 'tick', data: { n, symbol: 'ABCD'[n % 4] } });
    await Promise.all(
      Array.from({ length: 10 }, (_, n) =>
        fx.ev.publish('prices', { event: 'tick', data: { n: n + 10, symbol: 'ABCD'[n % 4] } }),
      ),
    );
    for (const [k, c] of clients.entries())
      await c.waitFor((x) => x.named('tick').length === (k % 4 < 2 ? 6 : 4), 15_000, 'the matches');
    expect(Object.fromEntries(calls)).toEqual({ A: 20, B: 20, C: 20, D: 20 });
  });

  it('replay after Last-Event-ID is exactly the filtered subset of the history (property)', async () => {
    const fx = await serve();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('A', 'B', 'C'), { minLength: 1, maxLength: 40 }),
        fc.nat(),
        fc.constantFrom('A', 'B', 'C'),
        async (symbols, at, wanted) => {
          const channel = `p${run++}`;
          const reference = await opened(fx, `/?channel=${channel}`);
          for (const [n, symbol] of symbols.entries())
            await fx.ev.publish(channel, { event: 'tick', data: { n, symbol } });
          await reference.waitFor((c) => c.named('tick').length === symbols.length, 15_000, 'the reference');
          const from = at % symbols.length;
          const lastId = reference.named('tick')[from]!.id!;
          const resumed = await opened(fx, `/?channel=${channel}&symbol=${wanted}`, lastId);
          const expected = symbols.flatMap((symbol, n) => (n > from && symbol === wanted ? [n] : []));
          expect(JSON.parse(resumed.named('stream-open')[0]!.data)).toMatchObject({
            replayed: expected.length,
          });
          await resumed.waitFor((c) => c.named('tick').length === expected.length, 15_000, 'the replay');
          expect(ticks(resumed).map((t) => t.n)).toEqual(expected);
          reference.close();
          resumed.close();
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a filter hook returning something else fails the request, naming the option', async () => {
    const errors: Error[] = [];
    const fx = await serveEvents(
      { keepAlive: false },
      { filter: () => ({ key: 1 }) as unknown as EventFilter },
    );
    fixtures.push(fx);
    fx.ev.on('error', (e) => errors.push(e));
    const client = await fx.open('/?channel=prices');
    expect(client.status).toBeGreaterThanOrEqual(500);
    expect(errors.map((e) => e.message).join()).toMatch(/filter/);
  });
});
