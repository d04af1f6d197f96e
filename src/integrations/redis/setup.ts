// redis(): the whole engine on one Redis from one configuration (history, the bus over it, control
// messages and shared state), for `events({ ...redis(process.env.REDIS_URL) })`.
import { InvalidOptionError } from 'express-eventstream';
import { type RedisBus, redisBus } from './bus.js';
import { BUS_KEYS, type RedisBusOptions } from './bus-options.js';
import { type RedisControl, redisControl } from './control.js';
import { assertBusValues, assertKnownKeys, assertObject } from './options.js';
import { type RedisState, redisState } from './state.js';
import { type RedisStore, type RedisStoreOptions, redisStore, STORE_KEYS } from './store.js';
import type { Engine } from './types.js';

/** The options of `redis()`: the store's, and the bus' under `bus`. */
export interface RedisSetupOptions extends RedisStoreOptions {
  /** Options of the bus: those of `redisBus()` but `store` and `closeStore`. */
  bus?: Omit<RedisBusOptions, 'store' | 'closeStore'>;
}

/** What `redis()` returns: a complete engine, spread it into `events()`. */
export interface RedisSetup extends Engine {
  /** The shared history (`redisStore()`): the `history` option of `events()`. */
  readonly history: RedisStore;
  /**
   * The cross-process bus over that history (`redisBus()`): the `bus` option of `events()`. It
   * closes the store when it closes, so `events.close()` releases both.
   */
  readonly bus: RedisBus;
  /** Control messages between the processes (`redisControl()`), on their own subscriber connection. */
  readonly control: RedisControl;
  /** Shared state with expiry (`redisState()`), on the store's connection. */
  readonly state: RedisState;
}

const BUS_OPTION_KEYS = BUS_KEYS.filter((k) => k !== 'store' && k !== 'closeStore');

/**
 * One Redis for every process: the shared history, the bus over it, control messages and shared
 * state, in one call.
 *
 * ```js
 * const ev = events({ ...redis(process.env.REDIS_URL), grip: process.env.GRIP_URL });
 * ```
 *
 * `options` is a `redis://` URL, or the options of `redisStore()` with the bus' under `bus`.
 * Invalid or unknown options throw `InvalidOptionError` before any connection is opened; so does
 * `undefined` (an unset `REDIS_URL`), which is accepted by the type only to be refused clearly.
 */
export function redis(options: string | RedisSetupOptions | undefined): RedisSetup {
  if (options === undefined || options === null || options === '') {
    throw new InvalidOptionError('url', 'redis() needs a redis:// URL or options (is REDIS_URL set?)');
  }
  const config: RedisSetupOptions = typeof options === 'string' ? { url: options } : options;
  assertObject(config, 'options', 'redis() options');
  const { bus: busOptions = {}, ...storeOptions } = config;
  assertKnownKeys(storeOptions, STORE_KEYS);
  assertObject(busOptions, 'bus', 'bus');
  assertKnownKeys(busOptions, BUS_OPTION_KEYS, 'bus.');
  // Every bus value is checked before the store opens its connection.
  assertBusValues(busOptions, 'bus.');
  const history = redisStore(storeOptions);
  return {
    history,
    bus: redisBus({ ...busOptions, store: history, closeStore: true }),
    control: redisControl({ store: history }),
    state: redisState({ store: history }),
  };
}
