// The seams this module implements, as the core declares them (the EventStore, the EventBus, the
// control channel, the shared state); for the modules of this entry only: its public API does not
// re-export the core's types.
import type { StoredRecord } from 'express-eventstream';

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
