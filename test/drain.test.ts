// Graceful drain: events.close({ drainMs }) ends the open streams spread over the window, each
// after a random `retry:`, and resolves once the last one ended. Real server, real sockets.
import { afterEach, describe, expect, it } from 'vitest';
import { EventsClosedError, InvalidOptionError } from '../src/index.js';
import { type EventsFixture, serveEvents } from './helpers/server.js';
import type { SseClient } from './helpers/sse-client.js';

let fixture: EventsFixture | undefined;
afterEach(async () => {
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

/** Close with a drain window; returns when each client saw its end, relative to the close() call. */
async function drainAndMeasure(f: EventsFixture, clients: SseClient[], drainMs: number) {
  const start = performance.now();
  const endedAt = clients.map(() => Number.NaN);
  const ends = clients.map((c, i) =>
    c
      .waitFor((x) => x.ended, drainMs + 30_000, 'end')
      .then(() => {
        endedAt[i] = performance.now() - start;
      }),
  );
  let connectionsWhenClosed = -1;
  const closed = f.ev.close({ drainMs }).then(() => {
    connectionsWhenClosed = f.ev.stats().connections;
  });
  await Promise.all([closed, ...ends]);
  return { endedAt, connectionsWhenClosed };
}

function expectSpread(endedAt: number[], drainMs: number): void {
  const sorted = [...endedAt].sort((a, b) => a - b);
  const first = sorted[0]!;
  const last = sorted.at(-1)!;
  // Not all at once: ends cover most of the window, some in each half.
  expect(last - first).toBeGreaterThan(drainMs / 2);
  expect(sorted.filter((t) => t < drainMs / 2).length).toBeGreaterThan(sorted.length / 4);
  expect(sorted.filter((t) => t >= drainMs / 2).length).toBeGreaterThan(sorted.length / 4);
  // Never before the window started; none much later than it (scheduling slack only).
  expect(first).toBeGreaterThanOrEqual(0);
  expect(last).toBeLessThan(drainMs + 5000);
}

describe('events.close({ drainMs })', () => {
  it('ends 50 streams spread across the window, each after a random retry:', async () => {
    fixture = await serveEvents();
    const clients = await openMany(fixture, 50);
    await fixture.ev.publish('a', { event: 'n', data: 1 });
    const drainMs = 1500;
    const { endedAt, connectionsWhenClosed } = await drainAndMeasure(fixture, clients, drainMs);
    expect(connectionsWhenClosed).toBe(0);
    expectSpread(endedAt, drainMs);
    for (const c of clients) {
      // The event published before close() arrived; the retry: came last, before the end.
      expect(c.named('n').map((e) => e.data)).toEqual(['1']);
      expect(c.retries).toHaveLength(1);
      expect(c.retries[0]).toBeGreaterThanOrEqual(0);
      expect(c.retries[0]).toBeLessThanOrEqual(drainMs);
      expect(c.body.endsWith(`retry: ${c.retries[0]}\n\n`)).toBe(true);
    }
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
    const { endedAt, connectionsWhenClosed } = await drainAndMeasure(fixture, clients, drainMs);
    expect(connectionsWhenClosed).toBe(0);
    expectSpread(endedAt, drainMs);
    for (const c of clients) expect(c.retries).toHaveLength(1);
  }, 30_000);
});
