// The value of `Events[INTERNALS]`: what the subpath entries use from the core (see internal-key.ts).

import * as checks from '../base/option-checks.js';
import { redactUrl } from '../base/redact-url.js';
import { encodeForStore } from '../core/pending-event.js';
import { encodeStoredEvent } from '../engine/bus.js';
import { decodeControlMessage, encodeControlMessage } from '../engine/control.js';
import { outageReport } from '../engine/outage.js';
import {
  assertExpected,
  assertStateEntry,
  assertStateName,
  isStoredStateName,
  isStoredStateValue,
  MAX_STATE_TTL_MS,
  stateLimit,
} from '../engine/state.js';
import {
  type EventsInternals,
  eventsProtocolOf,
  INSTANCE_INTERNALS,
  type PackageInternals,
} from './internal-key.js';

export const PACKAGE_INTERNALS: PackageInternals = {
  checks,
  encodeStoredEvent,
  encodeForStore,
  redactUrl,
  outageReport,
  control: { encodeControlMessage, decodeControlMessage },
  state: {
    assertExpected,
    assertStateEntry,
    assertStateName,
    stateLimit,
    isStoredStateValue,
    isStoredStateName,
    MAX_STATE_TTL_MS,
  },
  responseStreams: (events) => {
    const internals = (events as Record<symbol, EventsInternals | undefined>)[INSTANCE_INTERNALS];
    if (internals === undefined) throw new Error('express-eventstream: not an Events object');
    return { read: (id, options) => internals.streams.read(id, options), state: internals.engine.state };
  },
  engineOf(events) {
    if (eventsProtocolOf(events) !== 'compatible') return undefined;
    const internals = (events as { [INSTANCE_INTERNALS]: EventsInternals })[INSTANCE_INTERNALS];
    return { history: internals.settings.store, state: internals.engine.state };
  },
};
