// Load-following batching: events published from several I/O callbacks of one poll phase leave
// in one batch (one write per connection); a lone event waits for no timer; flushIntervalMs
// coalesces over a window. Every event once, in order. Real server and sockets.
import diagnostics_channel from 'node:diagnostics_channel';
import { readFile } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  events as createEvents,
  createHandler,
  type EventStore,
  EventStoreError,
  type Events,
  InvalidOptionError,
  MemoryStore,
} from '../src/index.js';
import { startServer, type TestServer } from './helpers/server.js';
import { connect, type SseClient, until } from './helpers/sse-client.js';

interface Fixture {
  ev: Events;
  server: TestServer;
  /** Events per delivered batch, in order. */
  batches: number[];
  /** Server-side sockets accepted so far. */
  accepted: () => number;
  close(): Promise<void>;
}

let fixture: Fixture | undefined;
const clients: SseClient[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of clients.splice(0)) c.close();
  await fixture?.close();
  fixture = undefined;
});

/** `/publish?n=K` publishes event K on channel a from its request callback; anything else streams. */
async function serve(flushIntervalMs?: number): Promise<Fixture> {
  const ev = createEvents(flushIntervalMs === undefined ? {} : { flushIntervalMs });
  const handler = createHandler({ events: ev });
  const server = await startServer((req, res) => {
    if (req.url?.startsWith('/publish')) {
      const n = new URL(req.url, 'http://x').searchParams.get('n');
      ev.publish('a', { event: 'n', data: Number(n) });
      res.end('ok');
      return;
    }
    handler(req, res);
  });
  let accepted = 0;
  server.server.on('connection', () => accepted++);
  const batches: number[] = [];
  const onDeliver = (message: unknown) => {
    batches.push((message as { events: number }).events);
  };
  diagnostics_channel.subscribe('express-eventstream:deliver', onDeliver);
  return {
    ev,
    server,
    batches,
    accepted: () => accepted,
    async close() {
      diagnostics_channel.unsubscribe('express-eventstream:deliver', onDeliver);
      await ev.close();
      await server.close();
    },
  };
}

async function subscriber(f: Fixture): Promise<SseClient> {
  const c = await connect(f.server.url('/?channel=a'));
  clients.push(c);
  await c.waitFor((x) => x.named('stream-open').length === 1);
  return c;
}

/** Open `count` raw sockets to the server and wait until the server accepted every one. */
async function openSockets(f: Fixture, count: number): Promise<net.Socket[]> {
  const before = f.accepted();
  const sockets = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(f.server.port, '127.0.0.1', () => resolve(s));
          s.on('error', reject);
        }),
    ),
  );
  await until(() => f.accepted() - before === count, 5000, 'connections accepted');
  return sockets;
}

describe('batching that follows load', () => {
  it('events from many HTTP requests handled in one poll phase leave in one batch, in order', async () => {
    fixture = await serve();
    const sub = await subscriber(fixture);
    const count = 40;
    const sockets = await openSockets(fixture, count);
    // Every request is in the server's receive buffers before its loop polls again: the next poll
    // phase runs one I/O callback per request, each publishing one event.
    for (let i = 0; i < count; i++) {
      sockets[i]!.write(`GET /publish?n=${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    }
    await sub.waitFor((x) => x.named('n').length === count, 10_000, `${count} events`);
    expect(sub.named('n').map((e) => Number(e.data))).toEqual(Array.from({ length: count }, (_, i) => i));
    // With a flush per callback (process.nextTick) this would be 40 batches of 1.
    expect(fixture.batches.length).toBeLessThan(count / 4);
    expect(fixture.batches.reduce((a, b) => a + b, 0)).toBe(count);
    for (const s of sockets) s.destroy();
  });

  it('a lone event published from an I/O callback goes out before any timer fires', async () => {
    fixture = await serve();
    const sub = await subscriber(fixture);
    const f = fixture;
    const deliveredByFirstTimer = await new Promise<number>((resolve) => {
      readFile(import.meta.filename, () => {
        // Scheduled before the publish, so a flush on any timer would come after this one. From an
        // I/O callback, the check phase (setImmediate) comes before the next timers phase.
        setTimeout(() => resolve(f.ev.stats().eventsDelivered), 0);
        f.ev.publish('a', { event: 'n', data: 'alone' });
      });
    });
    expect(deliveredByFirstTimer).toBe(1);
    await sub.waitFor((x) => x.named('n').length === 1);
  });

  it('flushIntervalMs holds a batch for its window, then sends everything once, in order', async () => {
    fixture = await serve(50);
    const sub = await subscriber(fixture);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    // 20 events, each from its own macrotask.
    for (let i = 0; i < 20; i++) {
      fixture.ev.publish('a', { event: 'n', data: i });
      await new Promise((r) => setImmediate(r));
    }
    expect(fixture.ev.stats().eventsDelivered).toBe(0);
    vi.advanceTimersByTime(49);
    await new Promise((r) => setImmediate(r));
    expect(fixture.ev.stats().eventsDelivered).toBe(0);
    vi.advanceTimersByTime(1);
    vi.useRealTimers();
    await sub.waitFor((x) => x.named('n').length === 20, 5000, '20 events');
    expect(sub.named('n').map((e) => Number(e.data))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(fixture.batches).toEqual([20]);
    // Later publishes open a new window and still arrive.
    await fixture.ev.publish('a', { event: 'n', data: 20 });
    await sub.waitFor((x) => x.named('n').length === 21);
  });

  it('flushIntervalMs with many requests: every event once, in order', async () => {
    fixture = await serve(5);
    const sub = await subscriber(fixture);
    const count = 200;
    for (let i = 0; i < count; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, k) =>
          fetch(fixture!.server.url(`/publish?n=${i + k}`)).then((r) => r.text()),
        ),
      );
    }
    await sub.waitFor((x) => x.named('n').length === count, 10_000, `${count} events`);
    const got = sub.named('n').map((e) => Number(e.data));
    // Requests of one group race each other; across groups the order is fixed, and nothing repeats.
    expect(new Set(got).size).toBe(count);
    for (let g = 0; g < count; g += 20) {
      expect(
        got
          .slice(g, g + 20)
          .sort((a, b) => a - b)
          .at(0),
      ).toBe(g);
    }
    const ids = sub.named('n').map((e) => e.id);
    expect(new Set(ids).size).toBe(count);
  });

  it('validates flushIntervalMs', () => {
    for (const bad of [-1, 1.5, '5', 1001, Number.NaN]) {
      expect(() => createEvents({ flushIntervalMs: bad as never })).toThrow(InvalidOptionError);
    }
    expect(() => createEvents({ flushIntervalMS: 5 } as never)).toThrow(/did you mean 'flushIntervalMs'/);
    expect(() => createEvents({ flushIntervalMs: 0 }).close()).not.toThrow();
  });
});

/** A MemoryStore whose appends wait for `release()` and record their sizes; `fails(n)` rejects one of n items. */
function gatedStore(fails: (items: number) => boolean = () => false) {
  const memory = new MemoryStore();
  const calls: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const store: EventStore = {
    epoch: () => memory.epoch(),
    readAfter: (channels, afterSeq, limit) => memory.readAfter(channels, afterSeq, limit),
    async append(items) {
      calls.push(items.length);
      await gate;
      if (fails(items.length)) throw new Error('store down');
      return memory.append(items);
    },
  };
  return { store, calls, release: () => release() };
}

/** Lets the pipeline flush what was published (its flush runs on setImmediate). */
const flushed = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

describe('appends while the store is slow (group commit)', () => {
  it('batches flushed while an append is in flight go in ONE next append: every event once, in order', async () => {
    const { store, calls, release } = gatedStore();
    const ev = createEvents({ history: store, keepAlive: false });
    const server = await startServer(createHandler({ events: ev }));
    try {
      const sub = await connect(server.url('/?channel=a'));
      clients.push(sub);
      await sub.waitFor((x) => x.named('stream-open').length === 1);
      const first = ev.publish('a', { event: 'n', data: 1 });
      await until(() => calls.length === 1, 5000, 'the first append');
      // Three more batches, each flushed on its own tick, while the first append waits.
      const later: Promise<void>[] = [];
      for (const n of [2, 3, 4]) {
        later.push(ev.publish('a', { event: 'n', data: n }));
        await flushed();
      }
      expect(calls).toEqual([1]);
      release();
      await Promise.all([first, ...later]);
      expect(calls).toEqual([1, 3]);
      await sub.waitFor((c) => c.named('n').length === 4, 5000, 'four events');
      expect(sub.named('n').map((e) => Number(e.data))).toEqual([1, 2, 3, 4]);
      const seqs = sub.named('n').map((e) => Number(e.id!.split('-')[1]));
      expect(seqs).toEqual([seqs[0]!, seqs[0]! + 1, seqs[0]! + 2, seqs[0]! + 3]);
    } finally {
      await ev.close();
      await server.close();
    }
  });

  it('a grouped append that fails rejects every publish of the group with EventStoreError; the next goes on', async () => {
    const { store, calls, release } = gatedStore((items) => items === 2);
    const ev = createEvents({ history: store, keepAlive: false });
    ev.on('error', () => {});
    try {
      const first = ev.publish('a', { data: 1 });
      await until(() => calls.length === 1, 5000, 'the first append');
      const grouped: Promise<void>[] = [];
      for (const n of [2, 3]) {
        grouped.push(ev.publish('a', { data: n }));
        await flushed();
      }
      release();
      await first;
      const outcomes = await Promise.allSettled(grouped);
      expect(calls).toEqual([1, 2]);
      for (const o of outcomes) {
        expect(o.status).toBe('rejected');
        expect((o as PromiseRejectedResult).reason).toBeInstanceOf(EventStoreError);
      }
      await expect(ev.publish('a', { data: 4 })).resolves.toBeUndefined();
      expect(calls).toEqual([1, 2, 1]);
    } finally {
      await ev.close();
    }
  });
});
