// Option checks of postgresStore(), postgresBus() and postgres(): the core's option-checking
// vocabulary (reached through the core's Events, see compose/internal-key.ts), plus Postgres' own
// values. A misspelt key or a bad value is refused with InvalidOptionError before any connection.
import { Events, InvalidOptionError } from 'express-eventstream';
import { type PackageInternals, packageInternals } from '../../compose/internal-key.js';

const internals: PackageInternals = packageInternals(Events);
const checks: PackageInternals['checks'] = internals.checks;

// Annotated: a call through an assertion function needs a declared type.
export const assertObject: typeof checks.assertObject = checks.assertObject;
export const assertKnownKeys: typeof checks.assertKnownKeys = checks.assertKnownKeys;
export const encodeForStore: PackageInternals['encodeForStore'] = internals.encodeForStore;
export const encodeStoredEvent: PackageInternals['encodeStoredEvent'] = internals.encodeStoredEvent;

/** `value` if it is a positive safe integer, `fallback` when undefined; otherwise throws. */
export function positiveInteger<T extends number | undefined>(
  name: string,
  value: unknown,
  fallback: T,
): number | T {
  return checks.integerOption(name, value, { min: 1 }, fallback);
}

/** A duration in ms (≥ 1), `fallback` when undefined. */
export function duration(name: string, value: unknown, fallback: number): number {
  return checks.durationOption(name, value, fallback, { min: 1 }) ?? fallback;
}

/** Throws unless `url` is a `postgres://` or `postgresql://` URL. */
export function assertPostgresUrl(url: unknown, name = 'url'): asserts url is string {
  checks.assertUrlOption(name, url, ['postgres:', 'postgresql:'], 'a postgres:// or postgresql:// URL');
}

const NAMESPACE = /^[A-Za-z0-9_.:-]{1,64}$/;
const PREFIX = /^[a-z_][a-z0-9_]{0,30}$/;

export function namespaceOption(value: unknown): string {
  const ns = value ?? 'events';
  if (typeof ns !== 'string' || !NAMESPACE.test(ns)) {
    throw new InvalidOptionError('namespace', 'namespace must be 1-64 of A-Z a-z 0-9 _ . : -');
  }
  return ns;
}

export function prefixOption(value: unknown): string {
  const prefix = value ?? 'ees_';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new InvalidOptionError(
      'tablePrefix',
      'tablePrefix must be 1-31 of a-z 0-9 _, not starting with a digit',
    );
  }
  return prefix;
}

/** Postgres truncates a LISTEN channel name to 63 bytes and refuses a longer one in pg_notify(). */
const MAX_CHANNEL_NAME_BYTES = 63;

/**
 * Throws unless the longest notification channel of the namespace (`<prefix><namespace>.control`)
 * fits Postgres' limit: a longer one would make every NOTIFY fail while LISTEN silently truncates.
 */
export function assertChannelNamesFit(prefix: string, namespace: string): void {
  const longest = `${prefix}${namespace}.control`.length;
  if (longest > MAX_CHANNEL_NAME_BYTES) {
    throw new InvalidOptionError(
      'namespace',
      `namespace and tablePrefix together must be at most ${MAX_CHANNEL_NAME_BYTES - '.control'.length} characters (Postgres limits notification channel names to ${MAX_CHANNEL_NAME_BYTES} bytes), got ${prefix.length + namespace.length}`,
    );
  }
}
