/** One stored event: its sequence number, channel, and SSE text without the `id:` line. */
export interface StoredRecord {
  readonly seq: number;
  readonly channel: string;
  readonly body: string;
}

/** What a store knows about events after a position, for a set of channels. */
export interface ReadResult {
  /** Stored events on the channels with `seq` above the position, in `seq` order. */
  readonly records: readonly StoredRecord[];
  /** Channels that lost events above the position to retention (count or age). */
  readonly gaps: readonly string[];
  /** The highest sequence number assigned so far (the snapshot `records` were read at). */
  readonly head: number;
}

/**
 * Event history. Asynchronous throughout, so a shared store (Redis) fits unchanged.
 * Sequence numbers are positive integers, one sequence per store, increasing in append order;
 * they compare across channels.
 */
export interface EventStore {
  /**
   * Identifies this history's lifetime: ids from another epoch (a restarted in-memory store)
   * are unknown to it.
   */
  epoch(): Promise<string>;
  /** Assign the next sequence numbers, in order, and store the events. Resolves with their numbers. */
  append(items: ReadonlyArray<{ channel: string; body: string }>): Promise<readonly number[]>;
  /** The highest sequence number assigned so far (0 before the first append). */
  head(): Promise<number>;
  /** Stored events on `channels` after `afterSeq`, and which of those channels have a gap. */
  readAfter(channels: readonly string[], afterSeq: number): Promise<ReadResult>;
  close?(): Promise<void>;
}
