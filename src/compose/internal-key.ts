// What the package's own subpath entries (redis, metrics, fastify, koa) share with the core without
// it being public API. Those entries import the core by package name, so that one copy of its
// classes serves them all; importing a core module relatively would bundle a second copy into the
// entry. So the core hangs its shared internals on `Events` under a registered symbol, stripped
// from the .d.ts, and an entry reads them from the `Events` it imported. This module has no
// run-time imports: an entry may import it relatively (it bundles these constants only). The keys
// of an Events object's own internals (for the responders) and of its cross-copy brand live here
// too, beside the other registered symbols.
import type * as checks from '../base/option-checks.js';
import type { redactUrl } from '../base/redact-url.js';
import type { ErrorContext } from '../base/types.js';
import type { encodeForStore } from '../core/pending-event.js';
import type { Subscriptions } from '../core/subscription.js';
import type { encodeStoredEvent } from '../engine/bus.js';
import type * as control from '../engine/control.js';
import type { outageReport } from '../engine/outage.js';
import type { RunningEngine } from '../engine/running.js';
import type * as state from '../engine/state.js';
import type { EventStore } from '../engine/store.js';
import type { GripPlugin } from '../grip/plugin.js';
import type { IdentityStreams } from '../identity/streams.js';
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
  /** Streams by identity: token expiry, revocation, the access check after a token's. */
  readonly identity: IdentityStreams;
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
export const EVENTS_PROTOCOL = 3;

/** Whether `value` is an Events object from this copy of the package or a compatible one. */
export function eventsProtocolOf(value: unknown): 'compatible' | 'incompatible' | 'none' {
  if (value === null || typeof value !== 'object') return 'none';
  const version: unknown = (value as Record<symbol, unknown>)[EVENTS_BRAND];
  if (version === undefined) return 'none';
  return version === EVENTS_PROTOCOL ? 'compatible' : 'incompatible';
}

/** Key of the static on `Events` carrying `PackageInternals`. */
export const INTERNALS: unique symbol = Symbol.for('express-eventstream.internals');

/** What the subpath entries use from the core. */
export interface PackageInternals {
  /** The option-checking vocabulary (unknown keys, integer ranges, durations, objects, callbacks). */
  readonly checks: typeof checks;
  /** What a subscriber receives for a stored event: the default encoding of a shared bus. */
  readonly encodeStoredEvent: typeof encodeStoredEvent;
  /** An event's stored text, checked as `publish()` checks it (the Postgres transactional publish). */
  readonly encodeForStore: typeof encodeForStore;
  /** A service URL without its password, for endpoints in messages and logs. */
  readonly redactUrl: typeof redactUrl;
  /** Failure reporting of a shared backend's parts: every failure to `onError`, an outage's first to the namespace. */
  readonly outageReport: typeof outageReport;
  /** Control message text and its checks, for shared control channels (Redis, Postgres). */
  readonly control: Pick<typeof control, 'encodeControlMessage' | 'decodeControlMessage'>;
  /** The argument checks every `SharedState` makes, and the bounds a value read back must meet. */
  readonly state: Pick<
    typeof state,
    | 'assertStateEntry'
    | 'assertExpected'
    | 'assertStateName'
    | 'stateLimit'
    | 'isStoredStateValue'
    | 'isStoredStateName'
    | 'MAX_STATE_TTL_MS'
  >;
  /** An Events object's response streams as the AI entry reads them, and its shared state. */
  readonly responseStreams: (events: object) => {
    read: ResponseStreams['read'];
    readonly state: RunningEngine['state'];
  };
  /**
   * The history and shared state of an Events object (an entry that stores its own records, such
   * as the MCP event store, writes where the namespace does); undefined for anything else.
   */
  readonly engineOf: (
    events: object,
  ) => { readonly history: EventStore | undefined; readonly state: state.SharedState } | undefined;
}

/** The internals of the core whose `Events` class is `events` (imported by package name). */
export function packageInternals(events: object): PackageInternals {
  const internals = (events as Record<symbol, PackageInternals | undefined>)[INTERNALS];
  // Only a mismatched install (an entry of another version than its core) gets here.
  if (internals === undefined)
    throw new Error('express-eventstream: the core of this entry is another version');
  return internals;
}

export type { OutageReport } from '../engine/outage.js';
