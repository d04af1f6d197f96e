// Store appends for the pipeline (group commit). One append is in flight at a time (two where the
// store keeps call order, `appendsInOrder`: Redis on one connection), so batches reach the store,
// and then clients, in publish order; the batches flushed while it runs wait and go together in
// the next append. A store slower than the flush rate (Redis on a busy
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
  /** Two appends in flight where the store keeps call order (`appendsInOrder`), else one. */
  readonly #maxInFlight: number;
  #queued: B[] = [];
  #inFlight = 0;
  /** Settles once the last append sent so far was handed on: each waits for the one before it. */
  #handed: Promise<void> = Promise.resolve();
  #idle: Promise<void> = Promise.resolve();
  #markIdle: (() => void) | undefined;

  constructor(store: EventStore, target: AppendTarget<B>) {
    this.#store = store;
    this.#target = target;
    this.#maxInFlight = store.appendsInOrder === true ? 2 : 1;
  }

  /** Queue a batch: it is appended after every batch added before it. */
  add(batch: B): void {
    this.#queued.push(batch);
    if (this.#markIdle === undefined) {
      this.#idle = new Promise((resolve) => {
        this.#markIdle = resolve;
      });
    }
    this.#pump();
  }

  /** Settles once every batch added so far was appended and handed on. */
  idle(): Promise<void> {
    return this.#idle;
  }

  /** Sends what is queued while a slot is free; results are handed on in the order sent. */
  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queued.length > 0) {
      const group = this.#take();
      this.#inFlight++;
      const stored = this.#send(group);
      const before = this.#handed;
      this.#handed = (async () => {
        const outcome = await stored;
        await before;
        this.#hand(group, outcome);
      })()
        // Every path of #hand settles its group: anything caught here is a defect, contained.
        .catch((err: unknown) => this.#target.failed(group, err, 'dispatch'))
        .finally(() => {
          this.#inFlight--;
          this.#pump();
          if (this.#inFlight === 0 && this.#queued.length === 0) {
            this.#markIdle?.();
            this.#markIdle = undefined;
          }
        });
    }
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

  /** The store's answer for `group` (the call is made now, so appends reach the store in order). */
  async #send(group: readonly B[]): Promise<{ encoded: EncodedEvent[] } | { cause: unknown }> {
    const pending = group.length === 1 ? group[0]!.events : group.flatMap((b) => b.events);
    try {
      // The epoch comes with the append: once the events are stored, nothing else can fail
      // and make their publish reject (a caller would retry and store them twice).
      const { epoch, events } = await this.#store.append(
        pending.map(({ channel, body, key }) =>
          key === undefined ? { channel, body } : { channel, body, key },
        ),
      );
      assertEpoch(epoch);
      const encoded: EncodedEvent[] = [];
      pending.forEach((p, i) => {
        const { seq, prevSeq, duplicate } = events[i]!;
        // A repeated idempotency key: published (and delivered) before, not again.
        if (duplicate !== true)
          encoded.push(assignId(p, formatId(epoch, seq), seq, formatId(epoch, prevSeq)));
      });
      return { encoded };
    } catch (cause) {
      return { cause };
    }
  }

  #hand(group: readonly B[], outcome: { encoded: EncodedEvent[] } | { cause: unknown }): void {
    if ('cause' in outcome) {
      this.#target.failed(group, outcome.cause, 'append');
      return;
    }
    try {
      this.#target.appended(group, outcome.encoded);
    } catch (err) {
      this.#target.failed(group, err, 'dispatch');
    }
  }
}
