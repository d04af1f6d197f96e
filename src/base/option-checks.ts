// The one option-checking vocabulary of the package (core, handlers, redis, metrics): objects,
// unknown keys (named with the closest valid one), integer ranges, durations, callbacks. Unknown
// keys are refused by name: a misspelt or outdated option silently ignored is a setting the user
// believes is on (a migrating 2.x user would silently lose GRIP publishing). Every failure is an
// InvalidOptionError naming the option, so each entry's errors read alike.
import { InvalidOptionError } from './errors.js';

/** setTimeout's ceiling: a longer delay fires at once, so no duration option may exceed it. */
export const MAX_DURATION_MS = 2_147_483_647;

/** Options that existed in express-eventstream 2.x, with what replaces each. */
const RENAMED: Readonly<Record<string, string>> = {
  gripPubControl:
    'gripPubControl (express-eventstream 2.x) is gone: pass grip (a GRIP_URL or { controlUri, key }) to publish to a proxy, or call events.addSink() for a custom publisher',
};

/** Edit distance (insertions, deletions, substitutions), two rows at a time. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The valid key closest to `key`: among keys it abbreviates (`maxEvents` for
 * `maxEventsPerChannel`) if there are any, else among all; by case-insensitive edit distance,
 * ties keeping the list order.
 */
function closest(key: string, valid: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const extended = valid.filter((v) => lower.length >= 3 && v.toLowerCase().startsWith(lower));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of extended.length > 0 ? extended : valid) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Throws unless `options` is an object (not null, not an array); `what` names it in the message. */
export function assertObject(options: unknown, name: string, what: string): asserts options is object {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError(name, `${what} must be an object`);
  }
}

/**
 * Throw `InvalidOptionError` for the first own enumerable key of `options` not in `valid`,
 * naming the closest valid key. `where` prefixes nested names (`history.` for `history.max`).
 */
export function assertKnownKeys(options: object, valid: readonly string[], where = ''): void {
  for (const key of Object.keys(options)) {
    if (valid.includes(key)) continue;
    const name = `${where}${key}`;
    const renamed = RENAMED[key];
    if (renamed !== undefined && where === '') throw new InvalidOptionError(name, renamed);
    const suggestion = closest(key, valid);
    throw new InvalidOptionError(
      name,
      `unknown option '${name}'${suggestion === undefined ? '' : `; did you mean '${where}${suggestion}'?`} (valid: ${valid.join(', ')})`,
    );
  }
}

/** An inclusive integer range; `max` defaults to the largest safe integer. */
export interface IntegerRange {
  readonly min: number;
  readonly max?: number;
}

/**
 * `value` if it is an integer in `range`, `fallback` when it is undefined; otherwise throws naming
 * `name`. `unit` (`ms`) is shown in the message.
 */
export function integerOption<F extends number | undefined>(
  name: string,
  value: unknown,
  range: IntegerRange,
  fallback: F,
  unit?: string,
): number | F {
  if (value === undefined) return fallback;
  const { min, max = Number.MAX_SAFE_INTEGER } = range;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max) return value;
  throw outOfRange(name, value, { min, max }, unit);
}

/**
 * A duration in whole ms within `range` (default 0 to setTimeout's ceiling), `fallback` when
 * undefined; with `fallback` `'required'`, undefined is refused like any other non-integer.
 */
export function durationOption<F extends number | undefined>(
  name: string,
  value: unknown,
  fallback: F | 'required',
  range: IntegerRange = { min: 0 },
): number | F {
  const bounds = { min: range.min, max: range.max ?? MAX_DURATION_MS };
  if (value === undefined && fallback === 'required') throw outOfRange(name, value, bounds, 'ms');
  return integerOption(name, value, bounds, fallback === 'required' ? undefined : fallback, 'ms') as
    | number
    | F;
}

function outOfRange(
  name: string,
  value: unknown,
  range: Required<IntegerRange>,
  unit?: string,
): InvalidOptionError {
  const { min, max } = range;
  const what =
    max === Number.MAX_SAFE_INTEGER
      ? min === 1
        ? 'a positive integer'
        : `an integer of at least ${min}`
      : `an integer from ${min} to ${max}`;
  const suffix = unit === undefined ? '' : ` (${unit})`;
  return new InvalidOptionError(name, `${name} must be ${what}${suffix}, got ${describeValue(value)}`);
}

/** Throws unless `value` is undefined or a function. */
export function assertOptionalFunction(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new InvalidOptionError(name, `${name} must be a function`);
  }
}

/**
 * Throws unless `value` is a URL with one of `schemes` (each like `'redis:'`), or, where
 * `socketPaths` allows it, an absolute unix socket path. `what` names the accepted forms.
 */
export function assertUrlOption(
  name: string,
  value: unknown,
  schemes: readonly string[],
  what: string,
  socketPaths = false,
): asserts value is string {
  const problem = `${name} must be ${what}`;
  if (typeof value !== 'string' || value === '') throw new InvalidOptionError(name, problem);
  if (socketPaths && value.startsWith('/')) return;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new InvalidOptionError(name, `${problem}, got an unparsable value`);
  }
  if (!schemes.includes(parsed.protocol)) {
    throw new InvalidOptionError(name, `${problem}, got a ${parsed.protocol} URL`);
  }
}

/** A value as a message shows it: short, one line, never a whole object. */
function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value !== null && typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

const GRIP_PROXY_KEYS = [
  'controlUri',
  'controlIss',
  'key',
  'verifyIss',
  'verifyKey',
  'user',
  'pass',
  // The snake_case spellings of js-grip / node-grip configs are accepted too.
  'control_uri',
  'control_iss',
  'verify_iss',
  'verify_key',
] as const;

/** Check the keys of every proxy object in a `grip` option (strings are GRIP_URLs, checked by the parser). */
export function assertGripKeys(grip: unknown, where = 'grip'): void {
  const list: readonly unknown[] = Array.isArray(grip) ? grip : [grip];
  list.forEach((item, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return;
    assertKnownKeys(item, GRIP_PROXY_KEYS, Array.isArray(grip) ? `${where}[${i}].` : `${where}.`);
  });
}
