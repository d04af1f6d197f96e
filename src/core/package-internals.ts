// The value of `Events[INTERNALS]`: what the subpath entries use from the core (see internal-key.ts).
import { decodeControlMessage, encodeControlMessage } from '../engine/control.js';
import { assertStateEntry, assertStateName, stateLimit } from '../engine/state.js';
import { encodeStoredEvent } from './bus.js';
import type { PackageInternals } from './internal-key.js';
import * as checks from './option-checks.js';

export const PACKAGE_INTERNALS: PackageInternals = {
  checks,
  encodeStoredEvent,
  control: { encodeControlMessage, decodeControlMessage },
  state: { assertStateEntry, assertStateName, stateLimit },
};
