// The seams this module implements, as the core declares them (the engine's four parts);
// for the modules of this entry only: its public API does not re-export the core's types.
import type { ReadResult, StoredRecord } from 'express-eventstream';

export type {
  AppendItem,
  AppendResult,
  BusEvent,
  BusResetReason,
  BusSink,
  ControlChannel,
  ControlSink,
  Engine,
  EventBus,
  EventStore,
  JsonValue,
  ReadResult,
  SharedState,
  StoredRecord,
} from 'express-eventstream';

/** A stored event with the seq of the previous event on its channel (0: its first). */
export interface ChainedRecord extends StoredRecord {
  readonly prevSeq: number;
}

/** A read whose records carry their channel's previous seq (what a bus delivers needs it). */
export interface ChainedRead extends Omit<ReadResult, 'records'> {
  readonly records: readonly ChainedRecord[];
}
