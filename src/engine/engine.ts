// The engine seam: everything a namespace shares with the other processes serving it, as one
// interface that the memory default, `redis()` and `postgres()` implement and that `events()`
// takes by spreading (`events({ ...redis(url) })`). Features above it (resume, revocation,
// presence, response streams) are written once against these four parts.

import type { EventBus } from './bus.js';
import type { ControlChannel } from './control.js';
import type { SharedState } from './state.js';
import type { EventStore } from './store.js';

/**
 * A shared backend: the event log (`history`), the delivery of appended events to every process
 * (`bus`), control messages between processes (`control`), and shared state with expiry
 * (`state`). Every part is an `events()` option; the ones left out are in-process (`MemoryStore`,
 * `LocalBus`, `LocalControl`, `MemoryState`). The parts of one engine are meant to be used
 * together: a shared bus with in-process control would revoke streams on one process only.
 */
export interface Engine {
  readonly history: EventStore;
  readonly bus: EventBus;
  readonly control: ControlChannel;
  readonly state: SharedState;
}
