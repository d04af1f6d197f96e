// How Events calls its listeners: each in isolation, so a throwing listener, or one whose promise
// rejects, reaches `failed` instead of the library's caller (or an unhandled rejection).
import type { EventEmitter } from 'node:events';
import { isThenable } from '../base/thenable.js';

/** Call `emitter`'s listeners of `name` with `args`; returns whether there were any. */
export function emitIsolated(
  emitter: EventEmitter,
  name: string | symbol,
  args: unknown[],
  failed: (err: unknown) => void,
): boolean {
  const listeners = emitter.rawListeners(name);
  if (listeners.length === 0) return false;
  for (const listener of listeners) {
    try {
      const result: unknown = Reflect.apply(listener, emitter, args);
      if (isThenable(result)) result.then(undefined, failed);
    } catch (err) {
      failed(err);
    }
  }
  return true;
}
