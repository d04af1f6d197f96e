// What the package's own subpath entries (redis, metrics, fastify, koa) share with the core without
// it being public API. Those entries import the core by package name, so that one copy of its
// classes serves them all; importing a core module relatively would bundle a second copy into the
// entry. So the core hangs its shared internals on `Events` under a registered symbol, stripped
// from the .d.ts, and an entry reads them from the `Events` it imported. This module has no
// run-time imports: an entry may import it relatively (it bundles these constants only). The keys
// of an Events object's own internals (for the responders) and of its cross-copy brand live here
// too, beside the other registered symbols.

import type * as checks from '../base/option-checks.js';
import type { ErrorContext } from '../base/types.js';
import type { Subscriptions } from '../core/subscription.js';
import type { encodeStoredEvent } from '../engine/bus.js';
import type * as control from '../engine/control.js';
import type { RunningEngine } from '../engine/running.js';
import type * as state from '../engine/state.js';
import type { GripPlugin } from '../grip/plugin.js';
import type { ResponseStreams } from '../streams/registry.js';
import type { Settings } from './options.js';

/**
 * What responders need from an Events object (the request decision's history access, the GRIP
 * plug-in, limits, opening streams). Reached through `internalsOf()`; not part of the public API.
 */
export interface EventsInternals {
  readonly settings: Settings;
  readonly grip: GripPlugin;
  readonly closed: boolean;
  readonly subscriptions: Subscriptions;
  /** Control messages by topic and shared state, for the features above the log. */
  readonly engine: RunningEngine;
  /** Response streams: reading them (the stream handlers) and stop requests. */
  readonly streams: ResponseStreams;
  report(error: Error, context: ErrorContext): void;
}

/** Key of an Events object's `EventsInternals` (`internalsOf()`). */
export const INSTANCE_INTERNALS: unique symbol = Symbol.for('express-eventstream.core');

/**
 * Marks Events objects in a way two copies of this package share (an app that loads both the
 * ESM and the CommonJS build has two `Events` classes, so `instanceof` fails across them). The
 * value is the version of `EventsInternals`; bump it when that changes.
 */
export const EVENTS_BRAND = Symbol.for('express-eventstream.events');
export const EVENTS_PROTOCOL = 2;

/** Key of the static on `Events` carrying `PackageInternals`. */
export const INTERNALS: unique symbol = Symbol.for('express-eventstream.internals');

/** What the subpath entries use from the core. */
export interface PackageInternals {
  /** The option-checking vocabulary (unknown keys, integer ranges, durations, objects, callbacks). */
  readonly checks: typeof checks;
  /** What a subscriber receives for a stored event: the default encoding of a shared bus. */
  readonly encodeStoredEvent: typeof encodeStoredEvent;
  /** Control message text and its checks, for shared control channels (Redis, Postgres). */
  readonly control: Pick<typeof control, 'encodeControlMessage' | 'decodeControlMessage'>;
  /** The argument checks every `SharedState` makes. */
  readonly state: Pick<typeof state, 'assertStateEntry' | 'assertStateName' | 'stateLimit'>;
}

/** The internals of the core whose `Events` class is `events` (imported by package name). */
export function packageInternals(events: object): PackageInternals {
  const internals = (events as Record<symbol, PackageInternals | undefined>)[INTERNALS];
  // Only a mismatched install (an entry of another version than its core) gets here.
  if (internals === undefined)
    throw new Error('express-eventstream: the core of this entry is another version');
  return internals;
}
