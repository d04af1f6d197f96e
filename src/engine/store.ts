/** One stored event: its sequence number, channel, and SSE text without the `id:` line. */
export interface StoredRecord {
  readonly seq: number;
  readonly channel: string;
  readonly body: string;
}

/** What a store knows about events after a position, for a set of channels. */
export interface ReadResult {
  /** The epoch the read happened in: `seq`s and `head` only mean something within it. */
  readonly epoch: string;
  /**
   * Stored events on the channels with `seq` above the position, in `seq` order: all of them, or
   * the `limit` lowest when a limit was given.
   */
  readonly records: readonly StoredRecord[];
  /** Channels that lost events above the position to retention (count or age). */
  readonly gaps: readonly string[];
  /** The highest sequence number assigned so far (the snapshot `records` were read at). */
  readonly head: number;
  /** For each requested channel, the seq of its newest event at that snapshot (0: none yet). */
  readonly lastSeq: Readonly<Record<string, number>>;
}

/** Where an appended event landed: its seq, and the seq of the previous event on its channel. */
export interface AppendResult {
  readonly seq: number;
  /** 0 when it is the channel's first event. Chains a channel's events for GRIP reliable mode. */
  readonly prevSeq: number;
  /**
   * true: the item's `key` was appended before (within the store's idempotency window), so it
   * was not stored again; `seq` and `prevSeq` are the original event's. It is not delivered again.
   */
  readonly duplicate?: boolean;
}

/** One event to append: its channel, its SSE text without the `id:` line, and its idempotency key. */
export interface AppendItem {
  /** The channel the event is published on. */
  readonly channel: string;
  /** Its SSE text without the `id:` line (the store assigns the id). */
  readonly body: string;
  /**
   * `publish(channel, event, { idempotencyKey })`: a store that has seen this key within its
   * idempotency window returns the original event's result with `duplicate: true` instead of
   * storing it again (also for a repeat within the same call). A store that ignores keys does
   * not deduplicate.
   */
  readonly key?: string;
}

/** What `append()` returns: the epoch of the ids, and one result per item, in order. */
export interface AppendOutcome {
  readonly epoch: string;
  readonly events: readonly AppendResult[];
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
  /**
   * Assign the next sequence numbers, in order, and store the events. Returns the epoch they
   * were stored under, read atomically with the append: once this resolves the events exist, so
   * nothing else may have to succeed before their publish can resolve. All or nothing: when it
   * rejects, none of the items was stored (the publishes reject, and a caller may retry them).
   * The epoch must follow the id grammar (1-16 of 0-9 a-z); the core refuses any other.
   */
  append(items: ReadonlyArray<AppendItem>): Promise<AppendOutcome>;
  /**
   * Stored events on `channels` after `afterSeq`, and which of those channels have a gap. With
   * `limit`, at most that many (the lowest seqs): callers page by reading again after the last
   * seq they got, so a long replay never has to be held in memory at once. Identical concurrent
   * reads are merged and the result handed to each caller: do not change it after returning it.
   */
  readAfter(channels: readonly string[], afterSeq: number, limit?: number): Promise<ReadResult>;
  close?(): Promise<void>;
  /**
   * True when appends are stored in the order `append()` was called even while earlier ones are
   * still in flight (retries included): the core then sends the next append before the previous
   * one answered (two in flight). Default: one at a time.
   */
  readonly appendsInOrder?: boolean;
}
