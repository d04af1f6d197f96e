// Option checks of redisStore(), redisBus() and redis(): the core's option-checking vocabulary
// (reached through the core's Events, see compose/internal-key.ts), plus Redis' own value checks. A
// misspelt key or a bad value is refused with InvalidOptionError (ERR_SSE_INVALID_OPTION) worded
// as the core words its own.
import { Events, InvalidOptionError } from 'express-eventstream';
import { type PackageInternals, packageInternals } from '../../compose/internal-key.js';

const checks: PackageInternals['checks'] = packageInternals(Events).checks;

// Annotated: a call through an assertion function needs a declared type.
export const assertObject: typeof checks.assertObject = checks.assertObject;
export const assertKnownKeys: typeof checks.assertKnownKeys = checks.assertKnownKeys;

/** `value` if it is a positive safe integer, `fallback` when undefined; otherwise throws. */
export function positiveInteger<T extends number | undefined>(
  name: string,
  value: unknown,
  fallback: T,
): number | T {
  return checks.integerOption(name, value, { min: 1 }, fallback);
}

/**
 * Checks the values of the bus' own options (all but `store`), naming them with `where` (`bus.`
 * when they come through redis()).
 */
export function assertBusValues(
  options: {
    encode?: unknown;
    onError?: unknown;
    pageSize?: unknown;
    maxBuffered?: unknown;
    checkIntervalMs?: unknown;
    closeStore?: unknown;
  },
  where = '',
): void {
  checks.assertOptionalFunction(`${where}encode`, options.encode);
  checks.assertOptionalFunction(`${where}onError`, options.onError);
  positiveInteger(`${where}pageSize`, options.pageSize, undefined);
  positiveInteger(`${where}maxBuffered`, options.maxBuffered, undefined);
  if (options.checkIntervalMs !== false) {
    checks.durationOption(`${where}checkIntervalMs`, options.checkIntervalMs, undefined, { min: 1 });
  }
  if (options.closeStore !== undefined && typeof options.closeStore !== 'boolean') {
    throw new InvalidOptionError(`${where}closeStore`, `${where}closeStore must be a boolean`);
  }
}

/**
 * Throws unless `url` is a `redis://` or `rediss://` URL (what ioredis parses as host, port,
 * credentials and database) or a unix socket path.
 */
export function assertRedisUrl(url: unknown, name = 'url'): asserts url is string {
  checks.assertUrlOption(
    name,
    url,
    ['redis:', 'rediss:'],
    'a redis:// or rediss:// URL (or a unix socket path)',
    true,
  );
}
