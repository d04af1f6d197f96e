// The publish pipeline: validate → encode once → per-turn batch → store append (assigns ids; see
// appender.ts) → bus publish (delivers to the hubs) → sinks (GRIP proxies). One place published
// events pass through.

import { assertChannelName } from '../base/channel-name.js';
import { EventStoreError, EventsClosedError, EventTooLargeError, InvalidEventError } from '../base/errors.js';
import type { EncodedEvent, EventSink } from '../base/types.js';
import { type EventBus, LocalBus } from '../engine/bus.js';
import type { EventStore } from '../engine/store.js';
import { Appender } from './appender.js';
import { type DiagnosticsSource, diag } from './diagnostics.js';
import { assignId, type PendingEvent, validateAndEncode } from './pending-event.js';
import { idempotencyKey, type PublishOptions } from './publish-options.js';

interface Batch {
  events: PendingEvent[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  /** Settles (never rejects) once the batch was written to local subscribers or failed. */
  delivered: Promise<void>;
  markDelivered: () => void;
  settled: boolean;
  /** performance.now() at the batch's first publish, for the deliver diagnostics. */
  startedAt: number;
}

/** A batch of this process on its way through the bus, while someone listens to `deliver`. */
interface InFlight {
  /** Seqs of its first and last event (a store assigns a batch consecutive seqs). */
  readonly first: number | undefined;
  readonly last: number | undefined;
  readonly startedAt: number;
}

/** What `publishTracked()` returns: the publish's promise, and when local delivery happened. */
export interface TrackedPublish {
  done: Promise<void>;
  delivered: Promise<void>;
}

/** What the pipeline needs from its namespace. */
export interface PipelineHost {
  readonly closed: boolean;
  report(error: Error, context: { channel?: string; event?: unknown }): void;
  /** Counters: events accepted, and publishes that failed. */
  counted(published: number, failed: number): void;
  /** Names the namespace in diagnostics messages. */
  readonly source: DiagnosticsSource;
}

/**
 * Mark a promise as handled without changing what it settles to: whoever awaits it still sees
 * the rejection, but nobody has to, so a fire-and-forget publish can never become an
 * unhandled rejection (which ends the process).
 */
function markHandled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

const SETTLED = Promise.resolve();

const toError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

export class Pipeline {
  readonly #host: PipelineHost;
  /** Appends batches to the history (one at a time, grouping those that wait); none without one. */
  readonly #appender: Appender<Batch> | undefined;
  readonly #bus: EventBus;
  /** The in-process bus delivers synchronously: delivery is known done when publish() returns. */
  readonly #localBus: boolean;
  readonly #sinks: EventSink[];
  readonly #maxChannelNameLength: number;
  readonly #maxEventBytes: number;
  #pending: Batch | undefined;
  readonly #flushIntervalMs: number;
  /** The timer of a coalescing window in progress (flushIntervalMs > 0). */
  #timer: NodeJS.Timeout | undefined;
  /** The batch being handed to the bus right now (a bus may deliver it before publish() returns). */
  #handing: InFlight | undefined;
  /** Batches a shared bus has not delivered here yet (only while `deliver` has subscribers). */
  readonly #inFlight = new Set<InFlight>();

  constructor(
    host: PipelineHost,
    config: {
      store: EventStore | undefined;
      bus: EventBus;
      sinks: EventSink[];
      maxChannelNameLength: number;
      maxEventBytes: number;
      flushIntervalMs: number;
    },
  ) {
    this.#flushIntervalMs = config.flushIntervalMs;
    this.#host = host;
    this.#appender =
      config.store &&
      new Appender<Batch>(config.store, {
        appended: (group, encoded) => this.#dispatch(group, encoded),
        failed: (group, cause, stage) => {
          const error = stage === 'append' ? new EventStoreError({ cause }) : toError(cause);
          if (stage === 'append' && diag.storeError.hasSubscribers)
            diag.storeError.publish({ ...this.#host.source, operation: 'append', error });
          for (const b of group) this.#fail(b, error);
        },
      });
    this.#bus = config.bus;
    this.#localBus = config.bus instanceof LocalBus;
    this.#sinks = config.sinks;
    this.#maxChannelNameLength = config.maxChannelNameLength;
    this.#maxEventBytes = config.maxEventBytes;
  }

  /** Send the batch waiting for its tick now, and wait until every accepted batch was appended. */
  async flush(): Promise<void> {
    if (this.#pending !== undefined) this.#flush();
    await this.#appender?.idle();
  }

  /** Validate and queue one event; `done` settles when it was delivered and every sink took it. */
  publish(channel: string, event: unknown, options?: PublishOptions): TrackedPublish {
    let pending: PendingEvent;
    try {
      if (this.#host.closed) throw new EventsClosedError();
      assertChannelName(channel, this.#maxChannelNameLength);
      const key = idempotencyKey(options, this.#appender !== undefined);
      pending = validateAndEncode(channel, event);
      if (key !== undefined) pending.key = key;
      // Measured without the id the history assigns (at most 38 bytes): known before the append.
      const size =
        Buffer.byteLength(pending.body) + (pending.id === undefined ? 0 : Buffer.byteLength(pending.id) + 5);
      if (size > this.#maxEventBytes) throw new EventTooLargeError(size, this.#maxEventBytes);
      if (pending.id !== undefined && this.#appender !== undefined) {
        throw new InvalidEventError(
          'id',
          'ids are assigned by the event history; pass history: false to events() to set your own',
        );
      }
      if (pending.id === 'error') {
        // The handler answers a reconnect carrying this id with 204, which stops EventSource.
        throw new InvalidEventError('id', "the id 'error' is reserved: it marks a stream-error");
      }
    } catch (err) {
      this.#host.counted(0, 1);
      this.#host.report(err as Error, { channel, event });
      return { done: markHandled(Promise.reject(err)), delivered: SETTLED };
    }
    this.#host.counted(1, 0);
    const batch = this.#enqueue(pending);
    return { done: batch.promise, delivered: batch.delivered };
  }

  #enqueue(encoded: PendingEvent): Batch {
    let batch = this.#pending;
    if (batch === undefined) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      let markDelivered!: () => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = () => {
          if (batch !== undefined) batch.settled = true;
          res();
        };
        reject = (err) => {
          if (batch !== undefined) batch.settled = true;
          rej(err);
        };
      });
      const delivered = new Promise<void>((res) => {
        markDelivered = res;
      });
      // Marked handled once per batch (not per publish): the hot path stays one push.
      markHandled(promise);
      batch = {
        events: [],
        promise,
        resolve,
        reject,
        delivered,
        markDelivered,
        settled: false,
        startedAt: performance.now(),
      };
      this.#pending = batch;
      // Everything published in this turn of the event loop goes out together: one write per
      // connection and one request per proxy. setImmediate runs right after the current poll
      // phase, so events from several I/O callbacks of that phase (many POSTs, many bus
      // messages) share the batch, and a lone event waits for no timer. process.nextTick would
      // flush after each callback: one write per event per connection under sustained traffic.
      if (this.#flushIntervalMs === 0) setImmediate(this.#flush);
      else this.#timer = setTimeout(this.#flush, this.#flushIntervalMs);
    }
    batch.events.push(encoded);
    return batch;
  }

  #flush = (): void => {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    if (batch === undefined) return;
    this.#pending = undefined;
    if (this.#appender !== undefined) {
      // The store assigns ids. Appending before delivering means a client that resumes reads
      // every event it could have missed from the store.
      this.#appender.add(batch);
      return;
    }
    try {
      this.#dispatch(
        [batch],
        batch.events.map((p) => assignId(p, p.id, undefined)),
      );
    } catch (err) {
      this.#fail(batch, toError(err));
    }
  };

  /**
   * When the earliest batch of this process among `delivered`'s events started, for the deliver
   * diagnostics: the batch being handed to the bus (a bus that delivers at once), else the
   * batches still travelling through a shared bus whose seqs `delivered` holds.
   */
  publishedAt(delivered: readonly EncodedEvent[]): number | undefined {
    if (this.#handing !== undefined) return this.#handing.startedAt;
    let at: number | undefined;
    for (const own of this.#inFlight) {
      if (at !== undefined && own.startedAt >= at) continue;
      const { first, last } = own;
      if (first === undefined || last === undefined) continue;
      if (delivered.some((ev) => ev.seq !== undefined && ev.seq >= first && ev.seq <= last))
        at = own.startedAt;
    }
    return at;
  }

  /** Deliver `group` (one batch, or several the appender stored together) and hand it to the sinks. */
  #dispatch(group: readonly Batch[], encoded: EncodedEvent[]): void {
    if (encoded.length === 0) {
      // Every event was a repeat (idempotency key) of one published before: nothing to send.
      for (const b of group) {
        b.markDelivered();
        b.resolve();
      }
      return;
    }
    if (diag.publish.hasSubscribers) diag.publish.publish({ ...this.#host.source, batch: encoded });
    // Only while someone listens to `deliver`: remember when this batch started, for its duration.
    const own: InFlight | undefined = diag.deliver.hasSubscribers
      ? { first: encoded[0]?.seq, last: encoded.at(-1)?.seq, startedAt: group[0]!.startedAt }
      : undefined;
    this.#handing = own;
    let bus: Promise<void>;
    try {
      bus = this.#bus.publish(encoded);
    } finally {
      this.#handing = undefined;
    }
    const delivered = () => {
      for (const b of group) b.markDelivered();
    };
    const resolved = () => {
      for (const b of group) b.resolve();
    };
    const failed = (err: Error) => {
      for (const b of group) this.#fail(b, err);
    };
    if (this.#localBus) {
      delivered();
      if (this.#sinks.length === 0) resolved();
      else Promise.all(this.#sinks.map((sink) => sink.publish(encoded))).then(resolved, failed);
      return;
    }
    // A shared bus delivers asynchronously (other processes' events keep seq order with ours);
    // it resolves once the batch was delivered here. It never rejects for another process.
    if (own !== undefined) {
      this.#inFlight.add(own);
      const arrived = () => this.#inFlight.delete(own);
      bus.then(arrived, arrived);
    }
    const local = bus.then(delivered, delivered);
    Promise.all([local, ...this.#sinks.map((sink) => sink.publish(encoded))]).then(resolved, failed);
  }

  #fail(batch: Batch, err: Error): void {
    batch.markDelivered();
    if (batch.settled) {
      this.#host.report(err, {});
      return;
    }
    this.#host.counted(0, batch.events.length);
    for (const ev of batch.events) this.#host.report(err, { channel: ev.channel, event: ev.event });
    batch.reject(err);
  }
}
