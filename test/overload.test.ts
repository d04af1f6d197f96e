// Overload policies: what a subscriber that stops reading gets under `disconnect`, `drop-oldest`
// and `conflate`, on a real server over loopback. Every event is accounted for: delivered,
// counted as missed, or replaced by a later value of its key.
import { afterEach, describe, expect, it } from 'vitest';
import { type EventsOptions, events, InvalidOptionError } from '../src/index.js';
import { type EventsFixture, serveEvents } from './helpers/server.js';
import type { SseClient, SseEvent } from './helpers/sse-client.js';

const fixtures: EventsFixture[] = [];
afterEach(async () => {
  for (const fx of fixtures.splice(0)) await fx.close();
});

async function serve(options: EventsOptions): Promise<EventsFixture> {
  const fx = await serveEvents({ keepAlive: false, maxBufferBytes: 64 * 1024, ...options });
  fixtures.push(fx);
  return fx;
}

/** Enough to fill the kernel's socket buffers and the bound many times over. */
const EVENTS = 4000;
const PAD = 'x'.repeat(8 * 1024);

/** Publish `count` events in batches of 50 (one tick each); event i's data is `{ i, symbol, pad }`. */
async function flood(
  fx: EventsFixture,
  channel: string,
  count: number,
  symbols = 10,
  pad = PAD,
): Promise<void> {
  for (let i = 0; i < count; ) {
    const batch: Array<Promise<void>> = [];
    for (let j = 0; j < 50 && i < count; j++, i++)
      batch.push(fx.ev.publish(channel, { event: 'tick', data: { i, symbol: `S${i % symbols}`, pad } }));
    await Promise.all(batch);
  }
}

const ticks = (c: SseClient): SseEvent[] => c.named('tick');
const indexOf = (e: SseEvent): number => (JSON.parse(e.data) as { i: number }).i;
const missedOf = (c: SseClient) =>
  c.named('stream-missed').map((e) => JSON.parse(e.data) as { missed: number; conflated: number });

async function stalledClient(fx: EventsFixture, channel: string): Promise<SseClient> {
  const client = await fx.open(`/?channel=${channel}`);
  await client.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');
  client.pause();
  return client;
}

describe('overload policies', () => {
  it('disconnect (the default) cuts a client that stopped reading', async () => {
    const fx = await serve({});
    const reasons: string[] = [];
    fx.ev.on('disconnect', (d) => reasons.push(d.reason));
    await stalledClient(fx, 'log');
    await flood(fx, 'log', EVENTS);
    expect(reasons).toEqual(['slow']);
    expect(fx.ev.stats().connections).toBe(0);
  });

  it('drop-oldest keeps the client; it gets stream-missed with the count, then the newest events', async () => {
    const fx = await serve({ overload: 'drop-oldest' });
    const reasons: string[] = [];
    fx.ev.on('disconnect', (d) => reasons.push(d.reason));
    const reader = await fx.open('/?channel=log');
    const slow = await stalledClient(fx, 'log');
    await flood(fx, 'log', EVENTS);
    expect(fx.ev.stats().connections).toBe(2);
    slow.resume();
    await slow.waitFor(
      (c) =>
        ticks(c)
          .at(-1)
          ?.data.includes(`"i":${EVENTS - 1},`) === true,
      30_000,
      'the newest event',
    );
    await reader.waitFor((c) => ticks(c).length === EVENTS, 30_000, 'every event for the reader');
    expect(reasons).toEqual([]);
    const got = ticks(slow).map(indexOf);
    const missed = missedOf(slow).reduce((sum, m) => sum + m.missed, 0);
    expect(missed).toBeGreaterThan(0);
    // Every event is delivered once or counted as missed; what arrives is in order.
    expect(got.length + missed).toBe(EVENTS);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(new Set(got).size).toBe(got.length);
    // Dropped are the oldest: after the notice the events run without a hole to the newest.
    const afterNotice = slow.events.slice(slow.events.map((e) => e.event).lastIndexOf('stream-missed') + 1);
    const tail = afterNotice.map(indexOf);
    expect(tail).toEqual(tail.map((_, k) => tail[0]! + k));
    // Its Last-Event-ID is the newest event's: a resume from it replays nothing.
    const last = ticks(slow).at(-1)!.id!;
    expect(last).toBe(ticks(reader).at(-1)!.id);
    const again = await fx.open('/?channel=log', { accept: 'text/event-stream', 'last-event-id': last });
    await again.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');
    expect(JSON.parse(again.named('stream-open')[0]!.data)).toMatchObject({ replayed: 0 });
  });

  it('conflate keeps the client; it gets the latest value of each key in order of last change', async () => {
    const fx = await serve({
      overload: { conflate: (event) => (event.json() as { symbol?: string }).symbol },
    });
    const slow = await stalledClient(fx, 'ticker');
    // Small events: the latest of every key fits in the bound, so nothing is lost, only replaced.
    const count = 20_000;
    await flood(fx, 'ticker', count, 10, 'x'.repeat(1024));
    expect(fx.ev.stats().connections).toBe(1);
    slow.resume();
    await slow.waitFor(
      (c) =>
        ticks(c)
          .at(-1)
          ?.data.includes(`"i":${count - 1},`) === true,
      30_000,
      'the newest event',
    );
    const notices = missedOf(slow);
    expect(notices.length).toBeGreaterThan(0);
    expect(notices.every((m) => m.missed === 0)).toBe(true);
    const got = ticks(slow).map(indexOf);
    const conflated = notices.reduce((sum, m) => sum + m.conflated, 0);
    expect(conflated).toBeGreaterThan(0);
    expect(got.length + conflated).toBe(count);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    // Each catch-up write: at most one event per key, in publish order (order of last change).
    const starts = slow.events.flatMap((e, k) => (e.event === 'stream-missed' ? [k] : []));
    for (const start of starts) {
      const write = slow.events
        .slice(start + 1)
        .filter((e) => e.event === 'tick')
        .slice(0, 10)
        .map(indexOf);
      expect(write).toEqual([...write].sort((a, b) => a - b));
    }
    // Every key's last value is the last one published for it.
    const last = new Map<number, number>();
    for (const i of got) last.set(i % 10, i);
    expect([...last.values()].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 10 }, (_, k) => count - 10 + k),
    );
  });

  it('per channel: a default with an exact name and a prefix override', async () => {
    const fx = await serve({
      overload: { default: 'drop-oldest', channels: { chat: 'disconnect', 'audit-*': 'disconnect' } },
    });
    const dropped: string[][] = [];
    fx.ev.on('disconnect', (d) => dropped.push([...d.channels]));
    await stalledClient(fx, 'chat');
    await stalledClient(fx, 'audit-eu');
    await stalledClient(fx, 'log');
    await Promise.all([
      flood(fx, 'chat', EVENTS / 2),
      flood(fx, 'audit-eu', EVENTS / 2),
      flood(fx, 'log', EVENTS / 2),
    ]);
    expect(dropped.sort()).toEqual([['audit-eu'], ['chat']]);
    expect(fx.ev.stats().subscribers).toEqual({ log: 1 });
  });

  it('refuses a bad policy, naming it', () => {
    expect(() => events({ overload: 'drop-newest' as 'drop-oldest' })).toThrow(InvalidOptionError);
    expect(() => events({ overload: { channels: { chat: 'nope' as 'disconnect' } } })).toThrow(
      /overload\.channels\.chat/,
    );
    expect(() => events({ overload: { conflate: 'symbol' as never } })).toThrow(/overload/);
  });
});
