// Option checks shared by redisStore(), redisBus() and redis(): a misspelt key or a bad value is
// refused with InvalidOptionError (ERR_SSE_INVALID_OPTION), as the core refuses its own options.
import { InvalidOptionError } from 'express-eventstream';

/** Throws unless `options` is a plain object (not null, not an array). */
export function assertObject(options: unknown, name: string, what: string): asserts options is object {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError(name, `${what} must be an object`);
  }
}

/** Throws for the first own key of `options` not in `valid`; `where` prefixes nested names. */
export function assertKnownKeys(options: object, valid: readonly string[], where = ''): void {
  for (const key of Object.keys(options)) {
    if (valid.includes(key)) continue;
    throw new InvalidOptionError(
      `${where}${key}`,
      `unknown option '${where}${key}' (valid: ${valid.map((v) => where + v).join(', ')})`,
    );
  }
}

/** `value` if it is a positive safe integer, `fallback` when undefined; otherwise throws. */
export function positiveInteger<T extends number | undefined>(
  name: string,
  value: unknown,
  fallback: T,
): number | T {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError(name, `${name} must be a positive integer`);
  }
  return value;
}

/** Throws unless `value` is undefined or a function. */
function optionalFunction(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new InvalidOptionError(name, `${name} must be a function`);
  }
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
  optionalFunction(`${where}encode`, options.encode);
  optionalFunction(`${where}onError`, options.onError);
  positiveInteger(`${where}pageSize`, options.pageSize, undefined);
  positiveInteger(`${where}maxBuffered`, options.maxBuffered, undefined);
  const check = options.checkIntervalMs;
  if (
    check !== undefined &&
    check !== false &&
    !(typeof check === 'number' && Number.isSafeInteger(check) && check >= 1)
  ) {
    throw new InvalidOptionError(
      `${where}checkIntervalMs`,
      `${where}checkIntervalMs must be a positive integer or false`,
    );
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
  const problem = `${name} must be a redis:// or rediss:// URL (or a unix socket path)`;
  if (typeof url !== 'string' || url === '') throw new InvalidOptionError(name, problem);
  if (url.startsWith('/')) return;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidOptionError(name, `${problem}, got an unparsable value`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidOptionError(name, `${problem}, got a ${parsed.protocol} URL`);
  }
}
