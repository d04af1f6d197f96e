// The default history: per-channel buffers in this process, bounded by count and optionally age.
import { randomBytes } from 'node:crypto';
import { InvalidOptionError } from '../base/errors.js';
import { STREAM_CHANNEL_EVENTS, STREAM_CHANNEL_PREFIX } from '../base/stream-limits.js';
import type {
  AppendItem,
  AppendOutcome,
  AppendResult,
  EventStore,
  ReadResult,
  StoredRecord,
} from '../engine/store.js';

/** The bounds of the in-memory history: events kept per channel, their age, idempotency keys. */
export interface MemoryStoreOptions {
  /**
   * Events kept per channel. Default 1000. A response stream's channel (`~stream/<id>`) is bounded
   * by its producer's `maxChunks` instead, so a long answer stays readable whole.
   */
  maxEventsPerChannel?: number;
  /** Events older than this (ms) are dropped. Default: no age limit. */
  maxAgeMs?: number;
  /** How long (ms) `publish(…, { idempotencyKey })` keys are remembered. Default 300 000. */
  idempotencyWindowMs?: number;
  /** Most idempotency keys remembered at once; beyond it the oldest are forgotten early. Default 10 000. */
  maxIdempotencyKeys?: number;
}

/** Where the event published with an idempotency key landed, and when. */
interface KeyRecord extends AppendResult {
  readonly at: number;
}

interface TimedRecord extends StoredRecord {
  readonly at: number;
}

/** One channel's retained events (oldest first, from `start`) and the newest seq it evicted. */
interface ChannelBuffer {
  records: TimedRecord[];
  start: number;
  evictedUpTo: number;
  lastSeq: number;
  /** Events kept: `maxEventsPerChannel`, or a stream channel's own bound. */
  max: number;
}

export class MemoryStore implements EventStore {
  readonly #epoch = randomBytes(6).readUIntBE(0, 6).toString(36);
  readonly #maxEvents: number;
  readonly #maxAgeMs: number | undefined;
  readonly #channels = new Map<string, ChannelBuffer>();
  /** Idempotency keys in insertion order (oldest first), so expiry and the bound drop from the front. */
  readonly #keys = new Map<string, KeyRecord>();
  readonly #keyWindowMs: number;
  readonly #maxKeys: number;
  #seq = 0;

  constructor(options: MemoryStoreOptions = {}) {
    const {
      maxEventsPerChannel = 1000,
      maxAgeMs,
      idempotencyWindowMs = 300_000,
      maxIdempotencyKeys = 10_000,
    } = options;
    for (const [name, value] of [
      ['idempotencyWindowMs', idempotencyWindowMs],
      ['maxIdempotencyKeys', maxIdempotencyKeys],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new InvalidOptionError(name, `${name} must be a positive integer`);
      }
    }
    this.#keyWindowMs = idempotencyWindowMs;
    this.#maxKeys = maxIdempotencyKeys;
    if (!Number.isSafeInteger(maxEventsPerChannel) || maxEventsPerChannel < 1) {
      throw new InvalidOptionError('maxEventsPerChannel', 'maxEventsPerChannel must be a positive integer');
    }
    if (maxAgeMs !== undefined && (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 1)) {
      throw new InvalidOptionError('maxAgeMs', 'maxAgeMs must be a positive integer (ms)');
    }
    this.#maxEvents = maxEventsPerChannel;
    this.#maxAgeMs = maxAgeMs;
  }

  async epoch(): Promise<string> {
    return this.#epoch;
  }

  async append(items: ReadonlyArray<AppendItem>): Promise<AppendOutcome> {
    const now = Date.now();
    const results: AppendResult[] = [];
    if (this.#keys.size > 0) this.#forgetKeys(now);
    for (const { channel, body, key } of items) {
      const seen = key === undefined ? undefined : this.#keys.get(key);
      if (seen !== undefined) {
        results.push({ seq: seen.seq, prevSeq: seen.prevSeq, duplicate: true });
        continue;
      }
      const seq = ++this.#seq;
      let buffer = this.#channels.get(channel);
      if (buffer === undefined) {
        const max = channel.startsWith(STREAM_CHANNEL_PREFIX) ? STREAM_CHANNEL_EVENTS : this.#maxEvents;
        buffer = { records: [], start: 0, evictedUpTo: 0, lastSeq: 0, max };
        this.#channels.set(channel, buffer);
      }
      buffer.records.push({ seq, channel, body, at: now });
      this.#expire(buffer);
      if (buffer.records.length - buffer.start > buffer.max) this.#evict(buffer, buffer.start + 1);
      results.push({ seq, prevSeq: buffer.lastSeq });
      if (key !== undefined) this.#remember(key, { seq, prevSeq: buffer.lastSeq, at: now });
      buffer.lastSeq = seq;
    }
    return { epoch: this.#epoch, events: results };
  }

  /** Drop the keys older than the window (they are in insertion order, so from the front). */
  #forgetKeys(now: number): void {
    for (const [key, record] of this.#keys) {
      if (now - record.at < this.#keyWindowMs) return;
      this.#keys.delete(key);
    }
  }

  #remember(key: string, record: KeyRecord): void {
    if (this.#keys.size >= this.#maxKeys) this.#keys.delete(this.#keys.keys().next().value!);
    this.#keys.set(key, record);
  }

  async readAfter(channels: readonly string[], afterSeq: number, limit?: number): Promise<ReadResult> {
    // Each channel contributes at most `limit` records: the lowest `limit` overall are among them.
    const perChannel = limit === undefined ? Number.POSITIVE_INFINITY : Math.max(0, Math.floor(limit));
    const gaps: string[] = [];
    const records: StoredRecord[] = [];
    const lastSeq: Record<string, number> = {};
    for (const channel of channels) {
      const buffer = this.#channels.get(channel);
      lastSeq[channel] = buffer?.lastSeq ?? 0;
      if (buffer === undefined) continue;
      this.#expire(buffer);
      if (buffer.evictedUpTo > afterSeq) {
        gaps.push(channel);
        continue;
      }
      const from = firstAfter(buffer, afterSeq);
      const to = Math.min(buffer.records.length, from + perChannel);
      for (let i = from; i < to; i++) records.push(buffer.records[i]!);
    }
    if (channels.length > 1) records.sort((a, b) => a.seq - b.seq);
    if (records.length > perChannel) records.length = perChannel;
    return { epoch: this.#epoch, records, gaps, head: this.#seq, lastSeq };
  }

  #expire(buffer: ChannelBuffer): void {
    if (this.#maxAgeMs === undefined) return;
    const oldest = Date.now() - this.#maxAgeMs;
    let end = buffer.start;
    while (end < buffer.records.length && buffer.records[end]!.at < oldest) end++;
    if (end > buffer.start) this.#evict(buffer, end);
  }

  /** Drop records before index `end`; compact the array once half of it is dead. */
  #evict(buffer: ChannelBuffer, end: number): void {
    buffer.evictedUpTo = buffer.records[end - 1]!.seq;
    buffer.start = end;
    if (buffer.start > 64 && buffer.start * 2 > buffer.records.length) {
      buffer.records = buffer.records.slice(buffer.start);
      buffer.start = 0;
    }
  }
}

/** Index of the first retained record with seq > afterSeq (records are in seq order). */
function firstAfter(buffer: ChannelBuffer, afterSeq: number): number {
  let lo = buffer.start;
  let hi = buffer.records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (buffer.records[mid]!.seq <= afterSeq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
