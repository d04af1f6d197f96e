// The live events held for a subscriber that fell behind under `drop-oldest` or `conflate`,
// bounded in memory: past the bound the oldest entry goes (counted as missed); an event whose key
// is already held replaces that entry and moves to the end (order of last change).
import { encodeStreamMissed } from '../base/encoder.js';
import type { EncodedEvent } from '../base/types.js';
import type { ConnectionOverload } from './overload.js';

/**
 * What holding one event costs besides its bytes and text: the event object, the Buffer's object,
 * the queue's entry (about 440 bytes measured per 50-byte event on Node 20). Without it, a bound
 * of 512 KiB of small events held eight times that in memory.
 */
const ENTRY_OVERHEAD = 400;

/** The memory an entry keeps alive: its bytes, its text (as one-byte characters at least), its key. */
const costOf = (ev: EncodedEvent, key: string | undefined): number =>
  ev.bytes.length + ev.text.length + (key?.length ?? 0) + ENTRY_OVERHEAD;

export class ParkedEvents {
  /** In delivery order; conflation keys are strings, keyless events get a number. */
  readonly #entries = new Map<string | number, EncodedEvent>();
  readonly #bound: number;
  readonly #overload: ConnectionOverload;
  /** Bytes of the held events, as they go on the wire. */
  #bytes = 0;
  /** The memory they are estimated to take: what the bound applies to. */
  #cost = 0;
  #next = 0;
  #missed = 0;
  #conflated = 0;

  constructor(bound: number, overload: ConnectionOverload) {
    this.#bound = bound;
    this.#overload = overload;
  }

  get bytes(): number {
    return this.#bytes;
  }

  add(ev: EncodedEvent): void {
    const key = this.#overload.keyOf(ev);
    if (key !== undefined) {
      const previous = this.#entries.get(key);
      if (previous !== undefined) {
        this.#entries.delete(key);
        this.#bytes -= previous.bytes.length;
        this.#cost -= costOf(previous, key);
        this.#conflated++;
      }
    }
    this.#entries.set(key ?? this.#next++, ev);
    this.#bytes += ev.bytes.length;
    this.#cost += costOf(ev, key);
    // Keep at least the newest event: one event larger than the bound still reaches the client.
    while (this.#cost > this.#bound && this.#entries.size > 1) {
      const [oldestKey, oldest] = this.#entries.entries().next().value as [string | number, EncodedEvent];
      this.#entries.delete(oldestKey);
      this.#bytes -= oldest.bytes.length;
      this.#cost -= costOf(oldest, typeof oldestKey === 'string' ? oldestKey : undefined);
      this.#missed++;
    }
  }

  /** What the client gets on catching up: `stream-missed` if anything was lost, then the held events. */
  take(): { bytes: Buffer; events: number } | undefined {
    if (this.#entries.size === 0 && this.#missed === 0 && this.#conflated === 0) return undefined;
    const parts: Buffer[] = [];
    if (this.#missed > 0 || this.#conflated > 0)
      parts.push(Buffer.from(encodeStreamMissed(this.#missed, this.#conflated)));
    for (const ev of this.#entries.values()) parts.push(ev.bytes);
    const events = this.#entries.size;
    this.#entries.clear();
    this.#bytes = 0;
    this.#cost = 0;
    this.#missed = 0;
    this.#conflated = 0;
    return { bytes: Buffer.concat(parts), events };
  }
}
