// Shared history reads ("singleflight"): after a deploy or a network blip thousands of clients
// resume at once from the same Last-Event-ID on the same channels, and would each make the very
// same `readAfter` call. Here identical concurrent reads become one read whose result every
// caller gets. Every store benefits (the memory store, Redis, a user's own) without knowing.
//
// Safety: a caller only ever gets the result of a read that *started after it asked*. A resuming
// connection subscribes to live events before it reads, so such a read holds every event the
// connection will not get live; a read started earlier might not (an event appended in between
// would be in neither). So, per key: the first caller's read starts at the end of the current
// turn of the event loop (setImmediate, like the publish batch), and everyone asking in that
// turn shares it; while it is in flight, newcomers gather for the next one, started as soon as
// it settles. At most one read per key is in flight, and a caller waits at most about two reads.
//
// Nothing outlives its read: a key's entry is removed when its last read settles (no cache).
// A shared result is handed to every caller as is, so nothing may mutate it (the `readonly`
// types say so; the tests hand out frozen results). A failed read rejects each of its callers
// with the same error, as the store raised it.
import type { EventStore, ReadResult } from '../engine/store.js';

/** Callers that asked while a read was in flight; their read starts when that one settles. */
interface Batch {
  /** The channels in the order of the caller that opened the batch: the read uses this order. */
  readonly channels: readonly string[];
  readonly result: Promise<ReadResult>;
  start(): void;
}

/** One key's reads: whether one is in flight, and who waits for the next. */
interface Flight {
  running: boolean;
  next: Batch | undefined;
}

const flights = new WeakMap<EventStore, Map<string, Flight>>();

/**
 * `store.readAfter(channels, afterSeq, limit)`, shared with identical calls made meanwhile. Calls
 * are identical when their channel sets (in any order), `afterSeq` and `limit` are; each caller
 * gets `gaps` in its own channel order.
 */
export function readAfterShared(
  store: EventStore,
  channels: readonly string[],
  afterSeq: number,
  limit?: number,
): Promise<ReadResult> {
  let byKey = flights.get(store);
  if (byKey === undefined) {
    byKey = new Map();
    flights.set(store, byKey);
  }
  const key = keyOf(channels, afterSeq, limit);
  let flight = byKey.get(key);
  if (flight === undefined) {
    flight = { running: false, next: undefined };
    byKey.set(key, flight);
  }
  let batch = flight.next;
  if (batch === undefined) {
    batch = gather(store, byKey, key, flight, channels, afterSeq, limit);
    flight.next = batch;
    // Nothing in flight: start at the end of this turn, so everyone asking in it shares the read.
    if (!flight.running) setImmediate(batch.start);
  }
  const own = batch;
  return own.result.then((result) => inOrderOf(result, own.channels, channels));
}

/** Reads in flight or waiting for `store` (0 once every read settled: nothing is kept). */
export function sharedReadsPending(store: EventStore): number {
  return flights.get(store)?.size ?? 0;
}

function gather(
  store: EventStore,
  byKey: Map<string, Flight>,
  key: string,
  flight: Flight,
  channels: readonly string[],
  afterSeq: number,
  limit: number | undefined,
): Batch {
  let settle!: (read: Promise<ReadResult>) => void;
  const result = new Promise<ReadResult>((resolve) => {
    settle = resolve;
  });
  const start = (): void => {
    // Callers arriving from now on must not share this read: they gather for the next.
    flight.next = undefined;
    flight.running = true;
    const read = call(store, channels, afterSeq, limit);
    settle(read);
    const done = (): void => {
      flight.running = false;
      const next = flight.next;
      if (next !== undefined) next.start();
      else {
        byKey.delete(key);
        if (byKey.size === 0) flights.delete(store);
      }
    };
    read.then(done, done);
  };
  return { channels, result, start };
}

/** The store's read as a promise, a synchronous throw included. */
function call(
  store: EventStore,
  channels: readonly string[],
  afterSeq: number,
  limit: number | undefined,
): Promise<ReadResult> {
  try {
    return Promise.resolve(
      limit === undefined ? store.readAfter(channels, afterSeq) : store.readAfter(channels, afterSeq, limit),
    );
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Channel sets are compared sorted; JSON keeps any channel name unambiguous. */
function keyOf(channels: readonly string[], afterSeq: number, limit: number | undefined): string {
  return JSON.stringify([afterSeq, limit ?? null, ...[...channels].sort()]);
}

/**
 * The result as the caller's own read would have given it: the store lists `gaps` in the order
 * of the channels it was asked for, so a caller that listed them differently gets its own order.
 */
function inOrderOf(result: ReadResult, asked: readonly string[], own: readonly string[]): ReadResult {
  if (result.gaps.length < 2 || asked === own || asked.every((c, i) => c === own[i])) return result;
  const rank = new Map(own.map((c, i) => [c, i]));
  const gaps = [...result.gaps].sort((a, b) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0));
  return { ...result, gaps };
}
