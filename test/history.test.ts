import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../src/history/memory-store.js';
import type { Events, EventsOptions } from '../src/index.js';
import { chaosClient } from './helpers/chaos-client.js';
import { serveEvents, type TestServer } from './helpers/server.js';
import { connect, type SseClient, type SseEvent, until } from './helpers/sse-client.js';

let server: TestServer | undefined;
let ev: Events | undefined;
const clients: SseClient[] = [];

afterEach(async () => {
  vi.useRealTimers();
  for (const c of clients.splice(0)) c.close();
  await ev?.close();
  await server?.close();
  server = undefined;
  ev = undefined;
});

async function serve(options: EventsOptions = {}) {
  const fx = await serveEvents({ keepAlive: false, ...options });
  ev = fx.ev;
  server = fx.server;
  return ev;
}

async function open(path: string, lastEventId?: string): Promise<SseClient> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  const c = await connect(server!.url(path), headers);
  clients.push(c);
  await c.waitFor((x) => x.events.length >= 1, 3000, 'stream-open');
  return c;
}

const lastId = (c: SseClient) => c.events.filter((e) => e.id !== undefined).at(-1)?.id;
const numbers = (list: SseEvent[]) =>
  list.filter((e) => e.event === 'n').map((e) => JSON.parse(e.data) as number);

describe('resuming after a disconnect', () => {
  it('replays exactly the missed events, in order, then continues live (Last-Event-ID header)', async () => {
    const ev = await serve();
    const first = await open('/?channel=a');
    for (let i = 1; i <= 3; i++) await ev.publish('a', { event: 'n', data: i });
    await first.waitFor((c) => numbers(c.events).length === 3);
    const resumeFrom = lastId(first)!;
    first.close();
    for (let i = 4; i <= 6; i++) await ev.publish('a', { event: 'n', data: i });
    const second = await open('/?channel=a', resumeFrom);
    await second.waitFor((c) => numbers(c.events).length === 3);
    await ev.publish('a', { event: 'n', data: 7 });
    await second.waitFor((c) => numbers(c.events).length === 4);
    // stream-open of a resumed stream announces how many replayed events follow, and has no id.
    expect(second.events[0]).toEqual({ event: 'stream-open', data: '{"replayed":3}', id: undefined });
    expect(numbers(second.events)).toEqual([4, 5, 6, 7]);
    expect(ev.stats().eventsReplayed).toBe(3);
  });

  it('resumes from the lastEventId query parameter (first connection, polyfills)', async () => {
    const ev = await serve();
    const first = await open('/?channel=a');
    const position = first.events[0]!.id!;
    first.close();
    await ev.publish('a', { event: 'n', data: 1 });
    const second = await open(`/?channel=a&lastEventId=${encodeURIComponent(position)}`);
    await second.waitFor((c) => numbers(c.events).length === 1);
    expect(numbers(second.events)).toEqual([1]);
  });

  it('gives a client that received nothing a position in stream-open, so nothing is lost', async () => {
    const ev = await serve();
    // An event before the first connection: the position must be after it, not the history's start.
    await ev.publish('a', { event: 'n', data: 0 });
    const first = await open('/?channel=a');
    first.close();
    await ev.publish('a', { event: 'n', data: 1 });
    const second = await open('/?channel=a', first.events[0]!.id);
    await second.waitFor((c) => numbers(c.events).length >= 1);
    await ev.publish('a', { event: 'n', data: 2 });
    await second.waitFor((c) => numbers(c.events).includes(2), 5000, 'the live event');
    // Exactly the one missed event, then live: nothing lost, nothing from before the position.
    expect(second.events[0]).toEqual({ event: 'stream-open', data: '{"replayed":1}', id: undefined });
    expect(numbers(second.events)).toEqual([1, 2]);
  });

  it('resumes several channels from one id, in publish order across channels', async () => {
    const ev = await serve();
    const first = await open('/?channel=a&channel=b');
    first.close();
    await ev.publish('a', { event: 'n', data: 1 });
    await ev.publish('c', { event: 'n', data: 99 });
    await ev.publish('b', { event: 'n', data: 2 });
    await ev.publish('a', { event: 'n', data: 3 });
    const second = await open('/?channel=b&channel=a', first.events[0]!.id);
    await second.waitFor((c) => numbers(c.events).length === 3);
    expect(numbers(second.events)).toEqual([1, 2, 3]);
  });

  it('loses and duplicates nothing when events are published while the replay is read', async () => {
    const ev = await serve();
    const first = await open('/?channel=a');
    for (let i = 1; i <= 200; i++) void ev.publish('a', { event: 'n', data: i });
    await first.waitFor((c) => numbers(c.events).length === 200);
    const position = first.events.find((e) => e.event === 'n' && e.data === '50')!.id!;
    first.close();
    // Keep publishing on every turn of the event loop while the client reconnects and resumes.
    let next = 201;
    let publishing = true;
    const pump = () => {
      if (!publishing || next > 1200) return;
      void ev.publish('a', { event: 'n', data: next++ });
      setImmediate(pump);
    };
    pump();
    const second = await open('/?channel=a', position);
    await second.waitFor((c) => numbers(c.events).length >= 300, 10_000, 'replay plus live events');
    publishing = false;
    await second.waitFor((c) => numbers(c.events).at(-1) === next - 1, 10_000, 'the last published event');
    const got = numbers(second.events);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => 51 + i));
  });
});

/** A store whose reads wait at a gate, so the test decides what is published during a read. */
class GatedStore extends MemoryStore {
  gate: Promise<void> | undefined;
  readStarted: (() => void) | undefined;
  snapshotAfterGate = false;

  override async readAfter(channels: readonly string[], afterSeq: number, limit?: number) {
    this.readStarted?.();
    if (this.snapshotAfterGate) {
      await this.gate;
      return super.readAfter(channels, afterSeq, limit);
    }
    const snapshot = await super.readAfter(channels, afterSeq, limit);
    await this.gate;
    return snapshot;
  }
}

describe.each([
  ['before', false],
  ['after', true],
])('events published while a replay is read (snapshot taken %s them)', (_when, snapshotAfterGate) => {
  it('reach the resuming client exactly once, in order', async () => {
    const store = new GatedStore();
    store.snapshotAfterGate = snapshotAfterGate;
    const ev = await serve({ history: store });
    const first = await open('/?channel=a');
    for (let i = 1; i <= 5; i++) await ev.publish('a', { event: 'n', data: i });
    await first.waitFor((c) => numbers(c.events).length === 5);
    const position = first.events.find((e) => e.data === '2')!.id!;
    first.close();
    let openGate!: () => void;
    store.gate = new Promise((r) => {
      openGate = r;
    });
    const reading = new Promise<void>((r) => {
      store.readStarted = r;
    });
    const resumed = connect(server!.url('/?channel=a'), {
      accept: 'text/event-stream',
      'last-event-id': position,
    });
    await reading;
    // Published (and delivered to the held connection) while the read is in progress.
    for (let i = 6; i <= 8; i++) await ev.publish('a', { event: 'n', data: i });
    openGate();
    const second = await resumed;
    clients.push(second);
    await second.waitFor((c) => numbers(c.events).length >= 6);
    await ev.publish('a', { event: 'n', data: 9 });
    await second.waitFor((c) => numbers(c.events).includes(9));
    expect(second.events[0]!.event).toBe('stream-open');
    expect(numbers(second.events)).toEqual([3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('stream-reset', () => {
  it('tells a client that fell behind the retention, then carries on live', async () => {
    const ev = await serve({ history: { maxEventsPerChannel: 5 } });
    const first = await open('/?channel=a&channel=b');
    first.close();
    for (let i = 1; i <= 10; i++) await ev.publish('a', { event: 'n', data: i });
    await ev.publish('b', { event: 'n', data: 100 });
    const second = await open('/?channel=a&channel=b', first.events[0]!.id);
    await second.waitFor((c) => c.named('stream-reset').length === 1);
    const reset = second.named('stream-reset')[0]!;
    expect(JSON.parse(reset.data)).toEqual({ channels: ['a'], reason: 'expired' });
    // Channel b lost nothing: its event is replayed; the reset's id moves the client to "now".
    expect(numbers(second.events)).toEqual([100]);
    expect(reset.id).toMatch(/-11$/);
    await ev.publish('a', { event: 'n', data: 11 });
    await second.waitFor((c) => numbers(c.events).includes(11));
    // Resuming from the reset's position is clean: no second reset.
    second.close();
    const third = await open('/?channel=a&channel=b', reset.id);
    await ev.publish('a', { event: 'n', data: 12 });
    await third.waitFor((c) => numbers(c.events).includes(12));
    expect(numbers(third.events)).toEqual([11, 12]);
    expect(third.named('stream-reset')).toHaveLength(0);
    expect(ev.stats().streamResets).toBe(1);
  });

  it('resets channels whose events aged out', async () => {
    // The store reads the clock: only Date is faked, so sockets and timers run as usual.
    vi.useFakeTimers({ toFake: ['Date'] });
    const ev = await serve({ history: { maxAgeMs: 30_000 } });
    const first = await open('/?channel=a');
    first.close();
    await ev.publish('a', { event: 'n', data: 1 });
    vi.setSystemTime(Date.now() + 30_001);
    const second = await open('/?channel=a', first.events[0]!.id);
    await second.waitFor((c) => c.named('stream-reset').length === 1);
    expect(JSON.parse(second.named('stream-reset')[0]!.data)).toMatchObject({ reason: 'expired' });
  });

  const bad: Array<[string, string, string]> = [
    ['garbage', 'hello world', 'malformed-id'],
    ['huge', `abc-${'9'.repeat(5000)}`, 'malformed-id'],
    ['negative', 'abc--5', 'malformed-id'],
    ['a float', 'abc-1.5', 'malformed-id'],
    ['another epoch', 'zzzzzz-1', 'unknown-id'],
  ];
  it.each(bad)('answers a %s Last-Event-ID with stream-reset, never an error', async (_name, id, reason) => {
    await serve();
    const c = await open('/?channel=a', id);
    await c.waitFor((x) => x.named('stream-reset').length === 1);
    expect(c.status).toBe(200);
    expect(JSON.parse(c.named('stream-reset')[0]!.data)).toEqual({ channels: ['a'], reason });
  });

  it('answers an id from the future and a NUL (query) with stream-reset', async () => {
    await serve();
    const probe = await open('/?channel=a');
    const epoch = probe.events[0]!.id!.split('-')[0]!;
    const future = await open('/?channel=a', `${epoch}-12345`);
    await future.waitFor((x) => x.named('stream-reset').length === 1);
    expect(JSON.parse(future.named('stream-reset')[0]!.data)).toMatchObject({ reason: 'unknown-id' });
    const nul = await open(`/?channel=a&lastEventId=${epoch}-1%00`);
    await nul.waitFor((x) => x.named('stream-reset').length === 1);
    expect(JSON.parse(nul.named('stream-reset')[0]!.data)).toMatchObject({ reason: 'malformed-id' });
  });
});

describe('chaos: random disconnects', () => {
  it('every client receives exactly the published sequence across 100+ reconnects each', async () => {
    // Within the retention window nothing may be lost; keep the whole run inside it.
    const ev = await serve({ history: { maxEventsPerChannel: 5000 } });
    const total = 5000;
    const clientsCount = 4;
    const runs = Array.from({ length: clientsCount }, () =>
      chaosClient(server!.url('/?channel=chaos'), total, 60),
    );
    // Fresh clients start at "now": let every client subscribe before the first event.
    await until(() => ev.stats().connections === clientsCount, 15_000, 'all clients connected');
    for (let i = 1; i <= total; i++) {
      await ev.publish('chaos', { event: 'n', data: i });
      if (i % 25 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(runs.map((r) => r.done));
    const expected = Array.from({ length: total }, (_, i) => i + 1);
    runs.forEach((run, i) => {
      expect(run.resets, `client ${i} resets`).toBe(0);
      expect(run.received, `client ${i}`).toEqual(expected);
      expect(run.cuts, `client ${i} reconnects`).toBeGreaterThanOrEqual(100);
    });
  }, 120_000);
});

describe('close()', () => {
  it('lets events published just before it reach open streams first', async () => {
    const ev = await serve();
    const c = await open('/?channel=a');
    void ev.publish('a', { event: 'n', data: 1 });
    void ev.publish('a', { event: 'n', data: 2 });
    await ev.close();
    await c.waitFor((x) => x.ended, 3000, 'end of stream');
    expect(numbers(c.events)).toEqual([1, 2]);
  });
});

describe('large replays', () => {
  it('are written in pieces that respect the buffer bound, with every character intact', async () => {
    const ev = await serve({ maxBufferBytes: 256 * 1024, history: { maxEventsPerChannel: 2000 } });
    const first = await open('/?channel=big');
    first.close();
    await until(() => ev.stats().connections === 0, 3000, 'the first connection released');
    // ~2 MB of replay, far beyond the bound; astral characters straddle every 64 KiB boundary.
    const text = `${'x'.repeat(1001)}${'😀'.repeat(500)}`;
    for (let i = 1; i <= 1000; i++) void ev.publish('big', { event: 'n', data: { i, text } });
    await ev.publish('big', { event: 'done' });
    const second = await open('/?channel=big', first.events[0]!.id);
    await second.waitFor((c) => c.named('done').length === 1, 20_000, 'the whole replay');
    const got = second.named('n').map((e) => JSON.parse(e.data) as { i: number; text: string });
    expect(got.map((g) => g.i)).toEqual(Array.from({ length: 1000 }, (_, k) => k + 1));
    expect(got.every((g) => g.text === text)).toBe(true);
    expect(ev.stats().slowClientsDropped).toBe(0);
  });
});
