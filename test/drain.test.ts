// Graceful drain: events.close({ drainMs }) ends the open streams spread over the window, each
// after a random `retry:`, and resolves once the last one ended. Real server, real sockets.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventsClosedError, InvalidOptionError } from '../src/index.js';
import { type EventsFixture, serveEvents } from './helpers/server.js';
import type { SseClient } from './helpers/sse-client.js';

let fixture: EventsFixture | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await fixture?.close();
  fixture = undefined;
});

async function openMany(f: EventsFixture, n: number): Promise<SseClient[]> {
  const clients: SseClient[] = [];
  // In groups: a burst of a thousand connects at once can overflow the listen backlog.
  for (let i = 0; i < n; i += 100) {
    const group = await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, () => f.open('/?channel=a')),
    );
    clients.push(...group);
  }
  await Promise.all(clients.map((c) => c.waitFor((x) => x.named('stream-open').length === 1)));
  return clients;
}

/**
 * Close with a drain window on a fake clock (setTimeout only: sockets run for real) and count,
 * on the server side, how many streams have ended after each tenth of the window. A stream's
 * release is synchronous in the drain's timer, so each count is exact whatever the load.
 */
async function drainOnFakeClock(f: EventsFixture, clients: SseClient[], drainMs: number) {
  let ended = 0;
  const reasons = new Set<string>();
  f.ev.on('disconnect', ({ reason }) => {
    ended++;
    reasons.add(reason);
  });
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  const endedAt: number[] = [];
  let connectionsWhenClosed = -1;
  let closed = false;
  const closing = f.ev.close({ drainMs }).then(() => {
    closed = true;
    connectionsWhenClosed = f.ev.stats().connections;
  });
  // close() flushes the pipeline first: wait (I/O turns, not the faked timers) until the drain
  // has scheduled one end per stream.
  while (!closed && f.ev.stats().connections > 0 && vi.getTimerCount() < clients.length)
    await new Promise((r) => setImmediate(r));
  const step = drainMs / 10;
  for (let t = 0; t <= drainMs; t += step) {
    if (t > 0) vi.advanceTimersByTime(step);
    endedAt.push(ended);
  }
  vi.useRealTimers();
  await closing;
  expect(closed).toBe(true);
  // Generous: the clients only have to see the ends the server already made.
  await Promise.all(clients.map((c) => c.waitFor((x) => x.ended, 30_000, 'end')));
  return { endedAt, connectionsWhenClosed, reasons: [...reasons] };
}

/**
 * Evenly spread: after each tenth of the window, the streams ended so far are that fraction of
 * them, give or take the one whose slot straddles the moment (each ends inside its own slot).
 */
function expectSpread(endedAt: number[], count: number): void {
  expect(endedAt[0], 'ended at the close() call').toBeLessThanOrEqual(1);
  endedAt.forEach((n, i) => {
    const due = (count * i) / 10;
    expect(n, `ended after ${i}/10 of the window`).toBeGreaterThanOrEqual(Math.floor(due) - 1);
    expect(n, `ended after ${i}/10 of the window`).toBeLessThanOrEqual(Math.ceil(due) + 1);
  });
  expect(endedAt.at(-1)).toBe(count);
}

/** The retry: values cover the window: some in each quarter, none beyond it. */
function expectRetriesSpread(clients: SseClient[], drainMs: number): void {
  const retries = clients.map((c) => c.retries[0]!);
  for (const r of retries) expect(r).toBeLessThanOrEqual(drainMs);
  for (let q = 0; q < 4; q++) {
    const inQuarter = retries.filter((r) => r >= (q * drainMs) / 4 && r < ((q + 1) * drainMs) / 4);
    expect(inQuarter.length, `retry: values in quarter ${q + 1} of the window`).toBeGreaterThan(
      retries.length / 16,
    );
  }
}

describe('events.close({ drainMs })', () => {
  it('ends 50 streams spread across the window, each after a random retry:', async () => {
    fixture = await serveEvents();
    const clients = await openMany(fixture, 50);
    await fixture.ev.publish('a', { event: 'n', data: 1 });
    const drainMs = 1500;
    const { endedAt, connectionsWhenClosed, reasons } = await drainOnFakeClock(fixture, clients, drainMs);
    expect(connectionsWhenClosed).toBe(0);
    expect(reasons).toEqual(['server']);
    expectSpread(endedAt, clients.length);
    for (const c of clients) {
      // The event published before close() arrived; the retry: came last, before the end.
      expect(c.named('n').map((e) => e.data)).toEqual(['1']);
      expect(c.retries).toHaveLength(1);
      expect(c.body.endsWith(`retry: ${c.retries[0]}\n\n`)).toBe(true);
    }
    expectRetriesSpread(clients, drainMs);
    // Random delays: the clients do not all come back after the same wait.
    expect(new Set(clients.map((c) => c.retries[0])).size).toBeGreaterThan(10);
  });

  it('refuses publishes at once while the streams drain', async () => {
    fixture = await serveEvents();
    const [client] = await openMany(fixture, 1);
    const closing = fixture.ev.close({ drainMs: 300 });
    await expect(fixture.ev.publish('a', { data: 'late' })).rejects.toBeInstanceOf(EventsClosedError);
    expect(client!.ended).toBe(false);
    // A second close() waits for the same drain.
    await fixture.ev.close();
    await closing;
    await client!.waitFor((c) => c.ended, 5000, 'end');
    expect(client!.retries).toHaveLength(1);
  });

  it('without options ends every stream at once with no retry: (as before)', async () => {
    fixture = await serveEvents();
    const clients = await openMany(fixture, 5);
    await fixture.ev.close();
    expect(fixture.ev.stats().connections).toBe(0);
    await Promise.all(clients.map((c) => c.waitFor((x) => x.ended, 5000, 'end')));
    for (const c of clients) expect(c.retries).toEqual([]);
  });

  it('validates its options before closing anything', async () => {
    fixture = await serveEvents();
    const ev = fixture.ev;
    for (const bad of [
      { drainMs: -1 },
      { drainMs: 1.5 },
      { drainMs: '100' },
      { drainMs: 2 ** 31 },
      'soon',
      null,
    ]) {
      const err = await ev.close(bad as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidOptionError);
      expect((err as InvalidOptionError).code).toBe('ERR_SSE_INVALID_OPTION');
    }
    const unknown = await ev.close({ drainMS: 10 } as never).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(InvalidOptionError);
    expect((unknown as Error).message).toContain("did you mean 'drainMs'");
    expect(ev.closed).toBe(false);
    await expect(ev.publish('a', { data: 1 })).resolves.toBeUndefined();
  });

  it('drains 1,000 clients over 2 s', async () => {
    fixture = await serveEvents();
    const clients = await openMany(fixture, 1000);
    const drainMs = 2000;
    const { endedAt, connectionsWhenClosed } = await drainOnFakeClock(fixture, clients, drainMs);
    expect(connectionsWhenClosed).toBe(0);
    expectSpread(endedAt, clients.length);
    for (const c of clients) expect(c.retries).toHaveLength(1);
    expectRetriesSpread(clients, drainMs);
  }, 30_000);
});
