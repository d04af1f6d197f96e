// What every stream starts with (padding, `retry:`), from the handler's `padding` and `retry`
// options. A `retry` range gives each stream its own delay drawn from it: after a deploy or a
// network blip every client loses its connection at the same moment, and with one shared delay
// they would all come back in the same instant (a reconnect storm). The drawn line is the only
// per-stream part; the padding and everything after `stream-open` stay shared bytes.
import { encodePreamble } from '../base/encoder.js';
import { InvalidOptionError } from '../base/errors.js';
import { assertKnownKeys, durationOption } from '../base/option-checks.js';

/**
 * The `retry` handler option: one reconnection delay in ms for every stream, or a range each
 * stream draws its own delay from (uniformly, whole ms, both ends included).
 */
export type RetryOption = number | { minDelayMs: number; maxDelayMs: number };

/** The preamble of an endpoint's streams. */
export interface Preamble {
  /** The delay `stream-error` carries (the range's lower end: that reconnect is answered 204 at once). */
  readonly retry: number | undefined;
  /** The text before `stream-open`; with a `retry` range, a fresh draw per call (call it once per stream). */
  text(): string;
}

// A delay past setTimeout's ceiling makes no sense to a client either; a range's ends are required.
function delay(value: unknown, name: string): number {
  return durationOption<number>(name, value, 'required');
}

/** Validate `retry` and build the preamble; `random` is injectable for tests. */
export function resolvePreamble(padding: boolean, retry: unknown, random = Math.random): Preamble {
  if (retry === undefined || typeof retry === 'number') {
    const exact = retry === undefined ? undefined : delay(retry, 'retry');
    const text = encodePreamble(padding, exact);
    return { retry: exact, text: () => text };
  }
  if (retry === null || typeof retry !== 'object' || Array.isArray(retry)) {
    throw new InvalidOptionError(
      'retry',
      `retry must be an integer (ms) or { minDelayMs, maxDelayMs }, got ${String(retry)}`,
    );
  }
  assertKnownKeys(retry, ['minDelayMs', 'maxDelayMs'], 'retry.');
  const range = retry as { minDelayMs?: unknown; maxDelayMs?: unknown };
  const min = delay(range.minDelayMs, 'retry.minDelayMs');
  const max = delay(range.maxDelayMs, 'retry.maxDelayMs');
  if (min > max) {
    throw new InvalidOptionError(
      'retry',
      `retry.minDelayMs (${min}) must not exceed retry.maxDelayMs (${max})`,
    );
  }
  // The padding is the same for every stream: built once, only the retry: line is drawn.
  const pad = encodePreamble(padding, undefined);
  const span = max - min + 1;
  return { retry: min, text: () => pad + encodePreamble(false, min + Math.floor(random() * span)) };
}
