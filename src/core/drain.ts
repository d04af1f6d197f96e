// Graceful drain: `events.close({ drainMs })` ends open streams spread across a window instead of
// all at once, each after a `retry:` picked at random, so a rolling deploy's clients come back
// scattered over time rather than in the same second.

import { assertKnownKeys, assertObject, durationOption } from '../base/option-checks.js';
import type { Connection } from './connection.js';

/** Options of `events.close()`. */
export interface CloseOptions {
  /**
   * Spread the end of the open streams over this many milliseconds (default 0: all at once).
   * Each stream first gets `retry: <random in [0, drainMs]>`. Streams held by a GRIP proxy are
   * not connections of this process and are unaffected.
   */
  drainMs?: number;
}

/** Validate `close()` options; returns the drain window in ms (0 when none). */
export function resolveDrainMs(options: CloseOptions | undefined): number {
  if (options === undefined) return 0;
  assertObject(options, 'options', 'close() options ({ drainMs? })');
  assertKnownKeys(options, ['drainMs']);
  return durationOption('drainMs', options.drainMs, 0);
}

/**
 * End `connections` over `drainMs`: the window is cut into one slot per connection and each ends
 * at a random moment inside its own slot (even spread, no two slots' ends in lockstep). Resolves
 * once the last one ended. `random` is injectable for tests.
 */
export function drain(
  connections: readonly Connection[],
  drainMs: number,
  random = Math.random,
): Promise<void> {
  const count = connections.length;
  if (count === 0) return Promise.resolve();
  if (drainMs === 0) {
    for (const conn of connections) conn.end();
    return Promise.resolve();
  }
  const slot = drainMs / count;
  // Shuffle which connection gets which slot: oldest-first would always end the same clients first.
  const order = connections.slice();
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return new Promise((resolve) => {
    let left = count;
    order.forEach((conn, i) => {
      const at = Math.min(drainMs, Math.floor((i + random()) * slot));
      setTimeout(() => {
        conn.endWithRetry(Math.round(random() * drainMs));
        if (--left === 0) resolve();
      }, at);
    });
  });
}
