// Unknown option keys are refused by name: a misspelt or outdated option silently ignored is a
// setting the user believes is on (a migrating 2.x user would silently lose GRIP publishing).
import { InvalidOptionError } from './errors.js';

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
