// Store appends for the pipeline (group commit). One append is in flight at a time, so batches
// reach the store, and then clients, in publish order; the batches flushed while it runs wait
// and go together in the next append. A store slower than the flush rate (Redis on a busy
// machine, at one batch per millisecond) then costs one round trip per wait, instead of a queue
// of one round trip per batch that grows for as long as the rate lasts.

import type { EncodedEvent } from '../base/types.js';
import type { EventStore } from '../engine/store.js';
import { assertEpoch, formatId } from '../history/ids.js';
import { assignId, type PendingEvent } from './pending-event.js';

/** Most events one append takes when queued batches are grouped (bounds a Redis script's arguments). */
const MAX_GROUP_EVENTS = 10_000;

/** What the appender hands each group of batches to. */
export interface AppendTarget<B> {
  /** The group's events were stored: `encoded` are its events with their ids, in order. */
  appended(group: readonly B[], encoded: EncodedEvent[]): void;
  /** The append failed (`'append'`: nothing was stored), or `appended()` threw (`'dispatch'`). */
  failed(group: readonly B[], cause: unknown, stage: 'append' | 'dispatch'): void;
}

export class Appender<B extends { readonly events: readonly PendingEvent[] }> {
  readonly #store: EventStore;
  readonly #target: AppendTarget<B>;
  #queued: B[] = [];
  #draining = false;
  #idle: Promise<void> = Promise.resolve();

  constructor(store: EventStore, target: AppendTarget<B>) {
    this.#store = store;
    this.#target = target;
  }

  /** Queue a batch: it is appended after every batch added before it. */
  add(batch: B): void {
    this.#queued.push(batch);
    if (this.#draining) return;
    this.#draining = true;
    // Every path of #drain settles its groups: anything caught here is a defect, contained.
    this.#idle = this.#drain().catch((err: unknown) => {
      this.#draining = false;
      this.#target.failed(this.#queued.splice(0), err, 'dispatch');
    });
  }

  /** Settles once every batch added so far was appended and handed on. */
  idle(): Promise<void> {
    return this.#idle;
  }

  async #drain(): Promise<void> {
    while (this.#queued.length > 0) await this.#append(this.#take());
    this.#draining = false;
  }

  /** The oldest queued batch and those after it, up to MAX_GROUP_EVENTS events (at least one batch). */
  #take(): B[] {
    let count = this.#queued[0]!.events.length;
    let n = 1;
    while (n < this.#queued.length && count + this.#queued[n]!.events.length <= MAX_GROUP_EVENTS) {
      count += this.#queued[n++]!.events.length;
    }
    return this.#queued.splice(0, n);
  }

  async #append(group: readonly B[]): Promise<void> {
    const pending = group.length === 1 ? group[0]!.events : group.flatMap((b) => b.events);
    let encoded: EncodedEvent[];
    try {
      // The epoch comes with the append: once the events are stored, nothing else can fail
      // and make their publish reject (a caller would retry and store them twice).
      const { epoch, events } = await this.#store.append(
        pending.map(({ channel, body, key }) =>
          key === undefined ? { channel, body } : { channel, body, key },
        ),
      );
      assertEpoch(epoch);
      encoded = [];
      pending.forEach((p, i) => {
        const { seq, prevSeq, duplicate } = events[i]!;
        // A repeated idempotency key: published (and delivered) before, not again.
        if (duplicate !== true)
          encoded.push(assignId(p, formatId(epoch, seq), seq, formatId(epoch, prevSeq)));
      });
    } catch (cause) {
      this.#target.failed(group, cause, 'append');
      return;
    }
    try {
      this.#target.appended(group, encoded);
    } catch (err) {
      this.#target.failed(group, err, 'dispatch');
    }
  }
}
