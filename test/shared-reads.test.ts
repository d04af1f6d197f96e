// Shared history reads (issue 13, reconnect storm): identical concurrent reads become one store
// read. Unit tests drive a fake store that counts reads and answers on command; the end-to-end
// tests resume real clients against a real server whose store counts and holds its reads.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/history/memory-store.js';
import { readAfterShared, sharedReadsPending } from '../src/history/shared-reads.js';
import {
  type AppendOutcome,
  type EventStore,
  EventStoreError,
  type Events,
  type ReadResult,
} from '../src/index.js';
import { serveEvents, type TestServer } from './helpers/server.js';
import { connect, type SseClient, type SseEvent, until } from './helpers/sse-client.js';

/** Everything reachable frozen: a caller that changed a shared result would throw (ESM is strict). */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

interface Call {
  channels: readonly string[];
  afterSeq: number;
  limit: number | undefined;
  resolve(result: ReadResult): void;
  reject(error: unknown): void;
}

/** A store whose reads are counted and answered by the test. */
class FakeStore implements EventStore {
  readonly calls: Call[] = [];
  async epoch(): Promise<string> {
    return 'e';
  }
  async append(): Promise<AppendOutcome> {
    throw new Error('not used');
  }
  readAfter(channels: readonly string[], afterSeq: number, limit?: number): Promise<ReadResult> {
    return new Promise((resolve, reject) => {
      this.calls.push({ channels: [...channels], afterSeq, limit, resolve, reject });
    });
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function result(gaps: string[] = [], head = 9): ReadResult {
  return deepFreeze({
    epoch: 'e',
    records: [
      { seq: 3, channel: 'a', body: 'data: 3\n\n' },
      { seq: 7, channel: 'b', body: 'data: 7\n\n' },
    ],
    gaps,
    head,
    lastSeq: { a: 3, b: 7, c: 0 },
  });
}

describe('readAfterShared', () => {
  it('makes one store read for identical calls made in the same turn, and all get its result', async () => {
    const store = new FakeStore();
    const reads = Array.from({ length: 50 }, () => readAfterShared(store, ['a', 'b'], 2, 128));
    await turn();
    expect(store.calls).toHaveLength(1);
    expect(store.calls[0]).toMatchObject({ channels: ['a', 'b'], afterSeq: 2, limit: 128 });
    const answer = result();
    store.calls[0]!.resolve(answer);
    const got = await Promise.all(reads);
    for (const r of got) expect(r).toBe(answer);
    expect(sharedReadsPending(store)).toBe(0);
  });

  it('shares between channel orders, giving each caller the gaps in its own order', async () => {
    const store = new FakeStore();
    const ab = readAfterShared(store, ['a', 'b', 'c'], 2);
    const ba = readAfterShared(store, ['c', 'b', 'a'], 2);
    await turn();
    expect(store.calls).toHaveLength(1);
    store.calls[0]!.resolve(result(['a', 'c']));
    const [x, y] = await Promise.all([ab, ba]);
    expect(x.gaps).toEqual(['a', 'c']);
    expect(y.gaps).toEqual(['c', 'a']);
    // Everything else is the one result.
    expect(y.records).toBe(x.records);
    expect(y.lastSeq).toBe(x.lastSeq);
    expect(y.head).toBe(9);
  });

  it('does not share between different channel sets, positions or limits', async () => {
    const store = new FakeStore();
    const all = [
      readAfterShared(store, ['a', 'b'], 2, 128),
      readAfterShared(store, ['a'], 2, 128),
      readAfterShared(store, ['a', 'b'], 3, 128),
      readAfterShared(store, ['a', 'b'], 2, 64),
      readAfterShared(store, ['a', 'b'], 2),
      readAfterShared(store, ['a,b'], 2, 128),
    ];
    await turn();
    expect(store.calls).toHaveLength(6);
    expect(store.calls[4]!.limit).toBeUndefined();
    for (const call of store.calls) call.resolve(result());
    await Promise.all(all);
    expect(sharedReadsPending(store)).toBe(0);
  });

  it('never hands a caller a read that started before it asked: it gets the next one', async () => {
    const store = new FakeStore();
    const early = readAfterShared(store, ['a'], 2);
    await turn();
    expect(store.calls).toHaveLength(1);
    // Asked while the first read is in flight: these wait for a read of their own, together.
    const late = [readAfterShared(store, ['a'], 2), readAfterShared(store, ['a'], 2)];
    await turn();
    await turn();
    expect(store.calls).toHaveLength(1);
    const first = result([], 9);
    store.calls[0]!.resolve(first);
    expect(await early).toBe(first);
    await until(() => store.calls.length === 2, 1000, 'the second read');
    const second = result([], 12);
    store.calls[1]!.resolve(second);
    for (const r of await Promise.all(late)) expect(r).toBe(second);
    expect(sharedReadsPending(store)).toBe(0);
  });

  it('rejects every caller of a failed read with the same error, and keeps no failure', async () => {
    const store = new FakeStore();
    const reads = Array.from({ length: 5 }, () => readAfterShared(store, ['a'], 2));
    await turn();
    const failure = new EventStoreError({ cause: new Error('connection reset') });
    store.calls[0]!.reject(failure);
    const outcomes = await Promise.allSettled(reads);
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason).toBe(failure);
    }
    expect(failure.code).toBe('ERR_SSE_STORE');
    expect(sharedReadsPending(store)).toBe(0);
    // The next call reads again.
    const again = readAfterShared(store, ['a'], 2);
    await turn();
    expect(store.calls).toHaveLength(2);
    store.calls[1]!.resolve(result());
    await expect(again).resolves.toMatchObject({ head: 9 });
  });

  it('turns a store that throws synchronously into a rejection for every caller', async () => {
    const boom = new TypeError('readAfter is broken');
    const store = new FakeStore();
    store.readAfter = () => {
      throw boom;
    };
    const reads = [readAfterShared(store, ['a'], 2), readAfterShared(store, ['a'], 2)];
    for (const o of await Promise.allSettled(reads)) {
      expect((o as PromiseRejectedResult).reason).toBe(boom);
    }
    expect(sharedReadsPending(store)).toBe(0);
  });

  it('keeps nothing once a read settled: the same call later reads the store again', async () => {
    const store = new FakeStore();
    const one = readAfterShared(store, ['a'], 2);
    await turn();
    expect(sharedReadsPending(store)).toBe(1);
    store.calls[0]!.resolve(result());
    await one;
    expect(sharedReadsPending(store)).toBe(0);
    const two = readAfterShared(store, ['a'], 2);
    await turn();
    expect(store.calls).toHaveLength(2);
    store.calls[1]!.resolve(result([], 10));
    expect((await two).head).toBe(10);
  });

  it('keeps the reads of different stores apart', async () => {
    const s1 = new FakeStore();
    const s2 = new FakeStore();
    const reads = [readAfterShared(s1, ['a'], 2), readAfterShared(s2, ['a'], 2)];
    await turn();
    expect([s1.calls.length, s2.calls.length]).toEqual([1, 1]);
    s1.calls[0]!.resolve(result([], 1));
    s2.calls[0]!.resolve(result([], 2));
    expect((await Promise.all(reads)).map((r) => r.head)).toEqual([1, 2]);
  });
});

/**
 * A MemoryStore whose reads are counted, answered with frozen results, and can be held: a held
 * read takes its snapshot when called (like a store that already executed it) and answers when
 * released. `epoch()` can be held too, so that many resumes reach their read in one turn.
 */
class HeldStore implements EventStore {
  readonly inner = new MemoryStore();
  reads = 0;
  holdReads = false;
  holdEpoch = false;
  #heldReads: Array<() => void> = [];
  #heldEpochs: Array<() => void> = [];

  epoch(): Promise<string> {
    if (!this.holdEpoch) return this.inner.epoch();
    return new Promise((resolve) => this.#heldEpochs.push(() => resolve(this.inner.epoch())));
  }
  append(items: ReadonlyArray<{ channel: string; body: string }>): Promise<AppendOutcome> {
    return this.inner.append(items);
  }
  async readAfter(channels: readonly string[], afterSeq: number, limit?: number): Promise<ReadResult> {
    this.reads++;
    const snapshot = deepFreeze(await this.inner.readAfter(channels, afterSeq, limit));
    if (!this.holdReads) return snapshot;
    return new Promise((resolve) => this.#heldReads.push(() => resolve(snapshot)));
  }
  get heldEpochs(): number {
    return this.#heldEpochs.length;
  }
  get heldReads(): number {
    return this.#heldReads.length;
  }
  releaseEpochs(): void {
    for (const release of this.#heldEpochs.splice(0)) release();
  }
  releaseReads(): void {
    for (const release of this.#heldReads.splice(0)) release();
  }
}

describe('resuming clients share reads (end to end)', () => {
  let ev: Events | undefined;
  let server: TestServer | undefined;
  const clients: SseClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await ev?.close();
    await server?.close();
    ev = undefined;
    server = undefined;
  });

  async function serve(store: HeldStore): Promise<Events> {
    const fx = await serveEvents({ keepAlive: false, history: store });
    ev = fx.ev;
    server = fx.server;
    return ev;
  }
  async function open(path: string, lastEventId?: string): Promise<SseClient> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    const c = await connect(server!.url(path), headers);
    clients.push(c);
    return c;
  }
  const numbers = (list: SseEvent[]) =>
    list.filter((e) => e.event === 'n').map((e) => JSON.parse(e.data) as number);
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it('30 clients resuming from one id cause one store read; each gets every event once, in order', async () => {
    const store = new HeldStore();
    const ev = await serve(store);
    const first = await open('/?channel=a&channel=b');
    await first.waitFor((c) => c.events.length >= 1, 3000, 'stream-open');
    for (let i = 1; i <= 4; i++) await ev.publish(i % 2 ? 'a' : 'b', { event: 'n', data: i });
    await first.waitFor((c) => numbers(c.events).length === 4);
    const position = first.events.at(-1)!.id!;
    first.close();
    await until(() => ev.stats().connections === 0, 3000, 'the first client gone');
    for (let i = 5; i <= 14; i++) await ev.publish(i % 2 ? 'a' : 'b', { event: 'n', data: i });
    // The storm: every client is subscribed before any of them reads (held at epoch()).
    store.holdEpoch = true;
    const readsBefore = store.reads;
    const storm = await Promise.all(
      // Half list the channels the other way round: the same set, so the same read.
      range(1, 30).map((i) => open(i % 2 ? '/?channel=a&channel=b' : '/?channel=b&channel=a', position)),
    );
    await until(() => store.heldEpochs === 30, 3000, 'every resume at its read');
    store.releaseEpochs();
    for (const c of storm) await c.waitFor((x) => numbers(x.events).length === 10, 3000, 'the replay');
    expect(store.reads - readsBefore).toBe(1);
    store.holdEpoch = false;
    for (let i = 15; i <= 17; i++) await ev.publish(i % 2 ? 'a' : 'b', { event: 'n', data: i });
    for (const c of storm) {
      await c.waitFor((x) => numbers(x.events).length === 13, 3000, 'live events');
      expect(c.events[0]).toEqual({ event: 'stream-open', data: '{"replayed":10}', id: undefined });
      expect(numbers(c.events)).toEqual(range(5, 17));
    }
    expect(ev.stats().eventsReplayed).toBe(300);
  });

  it('a client arriving while a read is in flight still gets an event published meanwhile', async () => {
    const store = new HeldStore();
    const ev = await serve(store);
    const first = await open('/?channel=a');
    await first.waitFor((c) => c.events.length >= 1, 3000, 'stream-open');
    const position = first.events[0]!.id!;
    first.close();
    await until(() => ev.stats().connections === 0, 3000, 'the first client gone');
    await ev.publish('a', { event: 'n', data: 1 });
    // A's read snapshots the history (event 1) and is held in flight.
    store.holdReads = true;
    const a = await open('/?channel=a', position);
    await until(() => store.heldReads === 1, 3000, "A's read in flight");
    // Event 2 reaches A live (deferred behind its replay); then B subscribes, after it. Sharing
    // A's read would give B neither event 2's replay nor the event live.
    await ev.publish('a', { event: 'n', data: 2 });
    const b = await open('/?channel=a', position);
    await until(() => ev.stats().subscribers.a === 2, 3000, 'B subscribed');
    store.holdReads = false;
    store.releaseReads();
    await a.waitFor((x) => numbers(x.events).length === 2, 3000, "A's events");
    await b.waitFor((x) => numbers(x.events).length === 2, 3000, "B's events");
    await ev.publish('a', { event: 'n', data: 3 });
    for (const c of [a, b]) {
      await c.waitFor((x) => numbers(x.events).length === 3, 3000, 'live event');
      expect(numbers(c.events)).toEqual([1, 2, 3]);
    }
    expect(store.reads).toBe(3);
  });
});
