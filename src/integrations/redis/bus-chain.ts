// The Redis bus' per-channel positions and the chain check (see bus.ts): an event is delivered
// only when it continues its channel (its prevSeq is the seq delivered last there). Anything else
// waits in the buffer until a sync from the store has filled the gap; the reads of that sync are
// applied here too.
import type { EncodedEvent } from 'express-eventstream';
import type { BusEvent, ChainedRecord, ReadResult } from './types.js';

export interface ChannelState {
  /** Seq of the last event delivered on this channel; undefined until the first sync places it. */
  last: number | undefined;
  /** Subscribers waiting for the placement, while someone waits. */
  waiting: { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } | undefined;
}

/** Resolves once `state` is placed; rejects when it cannot be now (see `Chain.failWaiting`). */
export function placement(state: ChannelState): Promise<void> {
  if (state.waiting === undefined) {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    state.waiting = { promise, resolve, reject };
  }
  return state.waiting.promise;
}

/** A seq as the append script writes it: decimal digits, a safe integer. */
function seqOf(value: unknown): number {
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) throw new Error('malformed bus message');
  return Number(value);
}

/** The epoch grammar of ids (1-16 of 0-9 a-z): anything else would go into `id:` lines. */
const EPOCH = /^[0-9a-z]{1,16}$/;

/**
 * One pub/sub payload, checked as foreign data: a message anyone could publish on our channels
 * must not reach the wire. One channel's: [epoch, seq, prevSeq, body, ...]; the response streams'
 * channel (`streams`): [epoch, channel, seq, prevSeq, body, ...], each channel one of `prefix`.
 * Throws on anything else (the message is dropped whole; the chain check then finds the gap).
 */
export function parsePayload(channel: string, payload: string, streams?: { prefix: string }): BusEvent[] {
  let parts: unknown;
  try {
    parts = JSON.parse(payload);
  } catch {
    throw new Error('malformed bus message');
  }
  const width = streams === undefined ? 3 : 4;
  if (!Array.isArray(parts) || parts.length < 1 + width || (parts.length - 1) % width !== 0) {
    throw new Error('malformed bus message');
  }
  const epoch: unknown = parts[0];
  if (typeof epoch !== 'string' || !EPOCH.test(epoch)) throw new Error('malformed bus message');
  const out: BusEvent[] = [];
  for (let i = 1; i < parts.length; i += width) {
    let name = channel;
    if (streams !== undefined) {
      const named: unknown = parts[i];
      if (typeof named !== 'string' || !named.startsWith(streams.prefix))
        throw new Error('malformed bus message');
      name = named;
    }
    const at = i + width - 3;
    const seq = seqOf(parts[at]);
    const prevSeq = seqOf(parts[at + 1]);
    const body: unknown = parts[at + 2];
    if (prevSeq >= seq || typeof body !== 'string') throw new Error('malformed bus message');
    out.push({ channel: name, epoch, seq, prevSeq, body });
  }
  return out;
}

type Read = ReadResult & { records: readonly ChainedRecord[] };

export class Chain {
  /** The channels with local subscribers. */
  readonly channels = new Map<string, ChannelState>();
  epoch: string | undefined;
  /** Broken chains seen (lost pub/sub messages). */
  gaps = 0;
  /** Events received while a sync runs, replayed after it. */
  #buffer: BusEvent[] = [];
  #overflowed = false;
  readonly #maxBuffered: number;
  readonly #encode: (event: BusEvent) => EncodedEvent;

  constructor(maxBuffered: number, encode: (event: BusEvent) => EncodedEvent) {
    this.#maxBuffered = maxBuffered;
    this.#encode = encode;
  }

  /** Add `ev` to `out` if it continues its channel's chain; false when a sync is needed first. */
  live(ev: BusEvent, out: EncodedEvent[]): boolean {
    const state = this.channels.get(ev.channel);
    if (state === undefined) return true;
    if (ev.epoch !== this.epoch || state.last === undefined) return false;
    if (ev.seq <= state.last) return true; // already delivered (by a sync)
    if (ev.prevSeq !== state.last) {
      this.gaps++;
      return false;
    }
    state.last = ev.seq;
    out.push(this.#encode(ev));
    return true;
  }

  buffer(events: readonly BusEvent[]): void {
    if (this.#overflowed) return;
    if (this.#buffer.length + events.length > this.#maxBuffered) {
      // The store has them all: drop the buffer and let the sync read further.
      this.#buffer = [];
      this.#overflowed = true;
      return;
    }
    this.#buffer.push(...events);
  }

  /**
   * After a sync: what arrived meanwhile, through the live path, into `out`. False when another
   * sync is needed first (a new gap, or the buffer overflowed).
   */
  replayBuffer(out: EncodedEvent[]): boolean {
    const buffered = this.#buffer;
    this.#buffer = [];
    if (this.#overflowed) {
      this.#overflowed = false;
      return false;
    }
    let complete = true;
    for (const ev of buffered) {
      // The read just fixed the epoch: an event of another epoch received meanwhile is stale
      // (a newer epoch shows again on the next event and starts another sync).
      if (ev.epoch !== this.epoch) continue;
      if (!complete) this.buffer([ev]);
      else if (!this.live(ev, out)) {
        this.buffer([ev]);
        complete = false;
      }
    }
    return complete;
  }

  /** Where the next read starts, per channel (not placed yet: "now"). */
  positions(): Array<readonly [string, number]> {
    return [...this.channels].map(([c, s]) => [c, s.last ?? Number.MAX_SAFE_INTEGER] as const);
  }

  /**
   * A read from another epoch (Redis lost its data): positions from the old one mean nothing now.
   * The placed channels move to this read's newest events, so each continues from its newest
   * event as of this same read; returns them, to be reset. Undefined for a read of this epoch.
   */
  newEpoch(read: Read, channels: readonly string[]): string[] | undefined {
    if (this.epoch === undefined || read.epoch === this.epoch) {
      this.epoch = read.epoch;
      return undefined;
    }
    const placed = channels.filter((c) => this.channels.get(c)?.last !== undefined);
    for (const c of placed) this.channels.get(c)!.last = read.lastSeq[c] ?? 0;
    this.epoch = read.epoch;
    return placed;
  }

  /**
   * Apply a read of this epoch: place new channels at their newest event (their subscribers may
   * read the store now), move channels that lost events to retention to their newest (returned,
   * to be reset), and add the records that continue their channels to `out`.
   */
  apply(read: Read, channels: readonly string[], out: EncodedEvent[]): string[] {
    for (const c of channels) {
      const state = this.channels.get(c);
      if (state !== undefined && state.last === undefined) {
        state.last = read.lastSeq[c] ?? 0;
        state.waiting?.resolve();
        state.waiting = undefined;
      }
    }
    const expired: string[] = [];
    for (const c of read.gaps) {
      const state = this.channels.get(c);
      if (state === undefined) continue;
      state.last = read.lastSeq[c] ?? state.last;
      expired.push(c);
    }
    for (const r of read.records) {
      const state = this.channels.get(r.channel);
      if (state === undefined || state.last === undefined || r.seq <= state.last) continue;
      state.last = r.seq;
      out.push(this.#encode({ ...r, epoch: read.epoch }));
    }
    return expired;
  }

  /** Channels not placed yet cannot be now: their waiting subscribers get `error`. */
  failWaiting(error: Error): void {
    for (const state of this.channels.values()) {
      if (state.last !== undefined || state.waiting === undefined) continue;
      state.waiting.reject(error);
      state.waiting = undefined;
    }
  }
}
