// The seams this module implements (see the project's SEAMS notes). They are declared here, in
// the shape agreed for EventStore v2 and the EventBus, so the Redis engine builds against them
// while the core catches up; once the core exports the same types these become re-exports.
import type { EncodedEvent } from 'express-eventstream';

/** One stored event. */
export interface StoredRecord {
  readonly seq: number;
  readonly channel: string;
  /** SSE text without the `id:` line. */
  readonly body: string;
}

/** A stored event with the seq of the previous event on its channel (0: its first). */
export interface ChainedRecord extends StoredRecord {
  readonly prevSeq: number;
}

export interface ReadResult {
  /** The epoch the records were read under. */
  readonly epoch: string;
  /** Stored events on the channels with `seq` above the position, in `seq` order. */
  readonly records: readonly StoredRecord[];
  /** Channels that lost events above the position to retention (count or age). */
  readonly gaps: readonly string[];
  /** The highest sequence number assigned so far. */
  readonly head: number;
  /** For each requested channel, the seq of its newest event (0: none yet). */
  readonly lastSeq: Readonly<Record<string, number>>;
}

export interface AppendResult {
  readonly seq: number;
  readonly prevSeq: number;
}

/** EventStore v2: every operation reads the epoch atomically with its data. */
export interface EventStoreV2 {
  epoch(): Promise<string>;
  append(
    items: ReadonlyArray<{ channel: string; body: string }>,
  ): Promise<{ epoch: string; events: readonly AppendResult[] }>;
  readAfter(channels: readonly string[], afterSeq: number, limit?: number): Promise<ReadResult>;
  close?(): Promise<void>;
}

/** An event as a bus carries it between processes. */
export interface BusEvent {
  readonly channel: string;
  readonly epoch: string;
  readonly seq: number;
  readonly prevSeq: number;
  /** SSE text without the `id:` line. */
  readonly body: string;
}

/** Where a bus delivers: the local hub. */
export interface BusSink {
  deliver(batch: readonly EncodedEvent[]): void;
  /**
   * Subscribers of `channels` may have missed events (`reason`: 'unknown-id' after an epoch
   * change, 'expired' when retention dropped events the bus had not delivered yet). `at` is the
   * store position the bus continues from: later deliveries on these channels have higher seqs.
   */
  reset?(channels: string[], reason: string, at: { epoch: string; head: number }): void;
}

export interface EventBus {
  start(sink: BusSink): Promise<void> | void;
  publish(batch: readonly EncodedEvent[]): Promise<void>;
  subscribe(channel: string): void;
  unsubscribe(channel: string): void;
  close(): Promise<void>;
}
