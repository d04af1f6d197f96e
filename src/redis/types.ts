// The seams this module implements, as the core declares them (EventStore v2 and the EventBus).
import type { EventStore, StoredRecord } from 'express-eventstream';

export type {
  AppendResult,
  BusEvent,
  BusResetReason,
  BusSink,
  EventBus,
  ReadResult,
  StoredRecord,
} from 'express-eventstream';

/** A stored event with the seq of the previous event on its channel (0: its first). */
export interface ChainedRecord extends StoredRecord {
  readonly prevSeq: number;
}

/** EventStore v2 (the core's `EventStore`): kept under this name for existing imports. */
export type EventStoreV2 = EventStore;
