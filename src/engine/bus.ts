// The bus seam: how appended events reach the hubs that have subscribers for them. The publish
// pipeline hands each appended batch to `bus.publish()`; the bus delivers it to this process's hub
// (through the sink given to `start()`) and, for a shared bus, to every other process's hub.
import { withId } from '../base/encoder.js';
import type { EncodedEvent, ResetReason } from '../base/types.js';

/** An event as a bus carries it between processes: stored, with its ids, without the `id:` line. */
export interface BusEvent {
  readonly channel: string;
  readonly epoch: string;
  readonly seq: number;
  /** Seq of the previous event on the same channel (0: its first): chains a channel's events. */
  readonly prevSeq: number;
  /** SSE text without the `id:` line. */
  readonly body: string;
}

/** Why a bus resets channels: `unknown-id` (the store's epoch changed), `expired` (retention won). */
export type BusResetReason = Exclude<ResetReason, 'malformed-id'>;

/** Where a bus delivers: this process's hub. */
export interface BusSink {
  /** A batch of events in seq order; each subscriber gets the ones on its channels. */
  deliver(batch: readonly EncodedEvent[]): void;
  /**
   * Subscribers of `channels` may have missed events (`reason`: `'unknown-id'` after an epoch
   * change, `'expired'` when retention dropped events the bus had not delivered yet). `at` is the
   * store position the bus continues from: they get a `stream-reset` whose id is that position.
   */
  reset?(channels: string[], reason: BusResetReason, at: { epoch: string; head: number }): void;
  /**
   * The bus failed on its own (its service is unreachable): emitted as `'error'` of the Events
   * object. A bus reports the start of an outage, not every retry.
   */
  report?(error: Error): void;
}

/**
 * Carries appended events to every process with subscribers. Implementations: `LocalBus` (this
 * process only, the default) and `RedisBus` (`express-eventstream/redis`).
 */
export interface EventBus {
  /** Called once by `events()`, before anything else: where delivered batches go. */
  start(sink: BusSink): Promise<void> | void;
  /**
   * Deliver a just-appended batch (ids assigned, in seq order) to every subscribed hub, this one
   * included. Resolves once it was delivered here; a bus never rejects for another process.
   */
  publish(batch: readonly EncodedEvent[]): Promise<void>;
  /**
   * The hub's first subscriber on `channel` arrived. When it returns a promise, the subscriber's
   * resume position is read only after it resolves: from then on every later event is delivered.
   */
  subscribe(channel: string): Promise<void> | void;
  /** The hub's last subscriber on `channel` left. */
  unsubscribe(channel: string): void;
  close(): Promise<void>;
}

const DONE = Promise.resolve();

/** The in-process bus: `publish()` delivers to this process's hub at once. */
export class LocalBus implements EventBus {
  #sink: BusSink | undefined;

  start(sink: BusSink): void {
    this.#sink = sink;
  }

  publish(batch: readonly EncodedEvent[]): Promise<void> {
    this.#sink?.deliver(batch);
    return DONE;
  }

  subscribe(): void {}

  unsubscribe(): void {}

  close(): Promise<void> {
    return DONE;
  }
}

/** What a subscriber receives for a stored event (`id: <epoch>-<seq>` and its body). */
export function encodeStoredEvent(ev: BusEvent): EncodedEvent {
  const id = `${ev.epoch}-${ev.seq}`;
  const text = withId(id, ev.body);
  const name = ev.body.startsWith('event: ') ? ev.body.slice(7, ev.body.indexOf('\n')) : undefined;
  return {
    channel: ev.channel,
    id,
    seq: ev.seq,
    prevId: `${ev.epoch}-${ev.prevSeq}`,
    event: name,
    text,
    bytes: Buffer.from(text),
  };
}
