// postgres(): the whole engine on one database from one configuration (history, the bus over it,
// control messages and shared state), for
// `events({ ...postgres(process.env.DATABASE_URL) })`.
import { InvalidOptionError } from 'express-eventstream';
import { BUS_KEYS, type PostgresBus, type PostgresBusOptions, postgresBus } from './bus.js';
import { type PostgresControl, postgresControl } from './control.js';
import { assertKnownKeys, assertObject } from './options.js';
import { type PostgresState, postgresState } from './state.js';
import { type PostgresStore, type PostgresStoreOptions, postgresStore, STORE_KEYS } from './store.js';
import type { Engine } from './types.js';

/** The options of `postgres()`: the store's, and the bus' under `bus`. */
export interface PostgresSetupOptions extends PostgresStoreOptions {
  /** Options of the bus: those of `postgresBus()` but `store` and `closeStore`. */
  bus?: Omit<PostgresBusOptions, 'store' | 'closeStore'>;
}

/** What `postgres()` returns: a complete engine, spread it into `events()`. */
export interface PostgresSetup extends Engine {
  /** The shared history (`postgresStore()`): the `history` option of `events()`; `publishIn()` is on it. */
  readonly history: PostgresStore;
  /** The cross-process bus over it (`postgresBus()`); it closes the store when it closes. */
  readonly bus: PostgresBus;
  /** Control messages between the processes (`postgresControl()`), on their own LISTEN connection. */
  readonly control: PostgresControl;
  /** Shared state with expiry (`postgresState()`), a table on the store's pool. */
  readonly state: PostgresState;
}

const BUS_OPTION_KEYS = BUS_KEYS.filter((k) => k !== 'store' && k !== 'closeStore');

/**
 * One PostgreSQL database for every process: the shared history, the bus over it, control
 * messages and shared state (revocation, response stream stops and presence across processes).
 *
 * ```js
 * const pg = postgres(process.env.DATABASE_URL);
 * const ev = events({ ...pg });
 * // inside your own transaction (client from your pg Pool, after BEGIN):
 * await pg.history.publishIn(client, 'orders', { event: 'created', data: order });
 * ```
 *
 * `options` is a `postgres://` URL, or the options of `postgresStore()` with the bus' under `bus`.
 * Invalid or unknown options throw `InvalidOptionError` before any connection is opened; so does
 * `undefined` (an unset `DATABASE_URL`).
 */
export function postgres(options: string | PostgresSetupOptions | undefined): PostgresSetup {
  if (options === undefined || options === null || options === '') {
    throw new InvalidOptionError(
      'url',
      'postgres() needs a postgres:// URL or options (is DATABASE_URL set?)',
    );
  }
  const config: PostgresSetupOptions = typeof options === 'string' ? { url: options } : options;
  assertObject(config, 'options', 'postgres() options');
  const { bus: busOptions = {}, ...storeOptions } = config;
  assertKnownKeys(storeOptions, STORE_KEYS);
  assertObject(busOptions, 'bus', 'bus');
  assertKnownKeys(busOptions, BUS_OPTION_KEYS, 'bus.');
  const history = postgresStore(storeOptions);
  try {
    return {
      history,
      bus: postgresBus({ ...busOptions, store: history, closeStore: true }),
      control: postgresControl({ store: history }),
      state: postgresState({ store: history }),
    };
  } catch (err) {
    void history.close();
    throw err;
  }
}
