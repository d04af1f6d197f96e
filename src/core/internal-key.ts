// What the package's own subpath entries (redis, metrics, fastify, koa) share with the core without
// it being public API. Those entries import the core by package name, so that one copy of its
// classes serves them all; importing a core module relatively would bundle a second copy into the
// entry. So the core hangs its shared internals on `Events` under a registered symbol, stripped
// from the .d.ts, and an entry reads them from the `Events` it imported. This module has no
// run-time imports: an entry may import it relatively (it bundles these constants only).
import type { encodeStoredEvent } from './bus.js';
import type * as checks from './option-checks.js';

/** Key of the static on `Events` carrying `PackageInternals`. */
export const INTERNALS: unique symbol = Symbol.for('express-eventstream.internals');

/** What the subpath entries use from the core. */
export interface PackageInternals {
  /** The option-checking vocabulary (unknown keys, integer ranges, durations, objects, callbacks). */
  readonly checks: typeof checks;
  /** What a subscriber receives for a stored event: the default encoding of a shared bus. */
  readonly encodeStoredEvent: typeof encodeStoredEvent;
}

/** The internals of the core whose `Events` class is `events` (imported by package name). */
export function packageInternals(events: object): PackageInternals {
  const internals = (events as Record<symbol, PackageInternals | undefined>)[INTERNALS];
  // Only a mismatched install (an entry of another version than its core) gets here.
  if (internals === undefined)
    throw new Error('express-eventstream: the core of this entry is another version');
  return internals;
}
