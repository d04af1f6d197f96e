// SharedState on Redis: the small expiring facts features keep for every process of a namespace
// (presence members, revoked subjects, a response stream's status). One script call per operation,
// on the store's connection, with Redis' clock deciding expiry (see state-scripts.ts).
import { Events, InvalidOptionError } from 'express-eventstream';
import { type PackageInternals, packageInternals } from '../../compose/internal-key.js';
import { runScript, script } from './commands.js';
import {
  STATE_CAS_LUA,
  STATE_COUNT_LUA,
  STATE_DELETE_LUA,
  STATE_ENTRIES_LUA,
  STATE_GET_LUA,
  STATE_PUT_LUA,
} from './state-scripts.js';
import type { RedisStore } from './store.js';
import type { SharedState } from './types.js';

const checks: PackageInternals['state'] = packageInternals(Events).state;
// The seam's bounds: an entry read back is checked against them.
const MAX_TTL_MS = checks.MAX_STATE_TTL_MS;

const PUT = script(STATE_PUT_LUA);
const CAS = script(STATE_CAS_LUA);
const GET = script(STATE_GET_LUA);
const DELETE = script(STATE_DELETE_LUA);
const COUNT = script(STATE_COUNT_LUA);
const ENTRIES = script(STATE_ENTRIES_LUA);

/** The options of `redisState()`. */
export interface RedisStateOptions {
  /** The Redis store whose connection, namespace and key prefix the state shares. */
  store: RedisStore;
}

const validValue: typeof checks.isStoredStateValue = checks.isStoredStateValue;
const validName: typeof checks.isStoredStateName = checks.isStoredStateName;

/**
 * Shared state with expiry on Redis: per scope a hash of values and a sorted set of expiry times,
 * so `count()` and `entries()` stay cheap with 10,000 members. Expiry is Redis' clock. Values read
 * back that this library cannot have written (wrong size, no expiry, an expiry beyond a day) are
 * skipped; a key of another type in the way fails with `RedisDataError`, unreachable Redis with
 * `RedisUnavailableError` (both name the key or the endpoint).
 */
export class RedisState implements SharedState {
  readonly #store: RedisStore;

  constructor(options: RedisStateOptions) {
    const store = (options as Partial<RedisStateOptions> | null | undefined)?.store as
      | Partial<RedisStore>
      | undefined;
    // Duck-typed, like the bus' store: a second copy of this module makes another class.
    if (typeof store?.command !== 'function' || typeof store.key !== 'function') {
      throw new InvalidOptionError('store', 'redisState() needs { store }: a redisStore()');
    }
    this.#store = options.store;
  }

  /** Sets `key` of `scope`, expiring `ttlMs` from now by Redis' clock. */
  put(scope: string, key: string, value: string, ttlMs: number): Promise<void> {
    checks.assertStateEntry(scope, key, value, ttlMs);
    return this.#run('state put', PUT, scope, [key, value, String(ttlMs)]).then(() => undefined);
  }

  /** Sets `key` only if its live value is `expected` (undefined: none), atomically (one script). */
  compareAndSet(
    scope: string,
    key: string,
    expected: string | undefined,
    value: string,
    ttlMs: number,
  ): Promise<boolean> {
    checks.assertStateEntry(scope, key, value, ttlMs);
    checks.assertExpected(expected);
    const tail = expected === undefined ? ['0'] : ['1', expected];
    return this.#run('state compare-and-set', CAS, scope, [key, value, String(ttlMs), ...tail]).then(
      (set) => Number(set) === 1,
    );
  }

  /** The live value of `key`, or undefined (also for a value this library cannot have written). */
  get(scope: string, key: string): Promise<string | undefined> {
    checks.assertStateName('scope', scope);
    checks.assertStateName('key', key);
    return this.#run('state get', GET, scope, [key]).then((value) => (validValue(value) ? value : undefined));
  }

  /** Removes `key`; resolves whether a live entry was there. */
  delete(scope: string, key: string): Promise<boolean> {
    checks.assertStateName('scope', scope);
    checks.assertStateName('key', key);
    return this.#run('state delete', DELETE, scope, [key]).then((removed) => Number(removed) === 1);
  }

  /** Live entries of `scope`, soonest expiry first, at most `limit`; foreign ones skipped. */
  entries(scope: string, limit?: number): Promise<Array<[key: string, value: string]>> {
    checks.assertStateName('scope', scope);
    const max = checks.stateLimit(limit);
    return this.#run('state entries', ENTRIES, scope, [String(max)]).then((reply) => {
      const [keys, values] = (Array.isArray(reply) ? reply : [[], []]) as [unknown[], unknown[]];
      const out: Array<[string, string]> = [];
      keys.forEach((key, i) => {
        const value = values[i];
        if (validName(key) && validValue(value)) out.push([key, value]);
      });
      return out;
    });
  }

  /** How many live entries `scope` has (one ZCOUNT, whatever its size). */
  count(scope: string): Promise<number> {
    checks.assertStateName('scope', scope);
    return this.#run('state count', COUNT, scope, []).then(Number);
  }

  /** The store's connection is the store's (closed with it): nothing of the state's own to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  #run(operation: string, s: ReturnType<typeof script>, scope: string, args: string[]): Promise<unknown> {
    const keys = [this.#store.key(`sv:${scope}`), this.#store.key(`se:${scope}`)];
    return this.#store.command(operation, (client) =>
      runScript(client, s, keys, [String(MAX_TTL_MS), ...args]),
    );
  }
}

/** Shared state with expiry on Redis, over a store's connection and namespace. */
export function redisState(options: RedisStateOptions): RedisState {
  return new RedisState(options);
}
