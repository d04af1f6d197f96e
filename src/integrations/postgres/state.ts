// SharedState on PostgreSQL: the small expiring facts features keep for every process of a
// namespace (presence members, revoked subjects, a response stream's status), as rows of one table
// (`<prefix>state`, schema.ts) keyed by namespace, scope and key, with an expiry time by the
// database's clock. One statement per operation on the store's pool. Expired rows are never
// returned; each put() deletes a bounded batch of its scope's expired rows, so a scope whose
// members come and go does not grow.
import { Events, InvalidOptionError } from 'express-eventstream';
import { type PackageInternals, packageInternals } from '../../compose/internal-key.js';
import type { PostgresStore } from './store.js';
import type { SharedState } from './types.js';

const checks: PackageInternals['state'] = packageInternals(Events).state;
const MAX_TTL_MS = checks.MAX_STATE_TTL_MS;

/** Expired rows a put() removes from its scope: a short statement whatever the backlog. */
const SWEEP_BATCH = 100;
/** A row whose expiry is further away than the longest ttl was not written by put(). */
const live = (column: string) =>
  `${column} > now() AND ${column} <= now() + ${MAX_TTL_MS + 60_000} * interval '1 millisecond'`;
const LIVE = live('expires_at');

/** The options of `postgresState()`. */
export interface PostgresStateOptions {
  /** The store whose pool, namespace and table prefix the state shares. */
  store: PostgresStore;
}

const validValue: typeof checks.isStoredStateValue = checks.isStoredStateValue;
const validName: typeof checks.isStoredStateName = checks.isStoredStateName;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether text can be in the table at all (a name that cannot has no entry). */
function storable(text: string): boolean {
  // A lone surrogate: a high one not followed by a low one, or a low one not after a high one.
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

/** PostgreSQL text holds neither NUL nor lone surrogates: refused rather than stored altered. */
function assertStorable(what: string, text: string): void {
  if (!storable(text)) {
    throw new InvalidOptionError(
      what,
      `a state ${what} on PostgreSQL must be well-formed Unicode without NUL characters`,
    );
  }
}

/**
 * Shared state with expiry on PostgreSQL: one row per entry, expiry by the database's clock, so
 * processes with skewed clocks agree. Values read back that this library cannot have written
 * (wrong size, an expiry beyond a day) are skipped; an unreachable database fails with
 * `PostgresUnavailableError` naming the endpoint.
 */
export class PostgresState implements SharedState {
  readonly #store: PostgresStore;
  readonly #table: string;

  constructor(options: PostgresStateOptions) {
    const store = (options as Partial<PostgresStateOptions> | null | undefined)?.store as
      | Partial<PostgresStore>
      | undefined;
    // Duck-typed: a second copy of this module makes another class.
    if (typeof store?.statement !== 'function' || store.names === undefined) {
      throw new InvalidOptionError('store', 'postgresState() needs { store }: a postgresStore()');
    }
    this.#store = options.store;
    this.#table = options.store.names.state;
  }

  /** Sets `key` of `scope`, expiring `ttlMs` from now by the database's clock. */
  async put(scope: string, key: string, value: string, ttlMs: number): Promise<void> {
    checks.assertStateEntry(scope, key, value, ttlMs);
    assertStorable('scope', scope);
    assertStorable('key', key);
    assertStorable('value', value);
    const t = this.#table;
    await this.#store.statement(
      'state put',
      `WITH swept AS (
         DELETE FROM ${t} WHERE (ns, scope, key) IN (
           SELECT ns, scope, key FROM ${t} WHERE ns = $1 AND scope = $2 AND key <> $3 AND expires_at <= now()
           LIMIT ${SWEEP_BATCH})
       )
       INSERT INTO ${t} (ns, scope, key, value, expires_at)
       VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond')
       ON CONFLICT (ns, scope, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
      [this.#store.namespace, scope, key, value, ttlMs],
    );
  }

  /**
   * Sets `key` only if its live value is `expected` (undefined: none), in one statement: a
   * conditional UPDATE (a racing one re-checks the row after the first commits), or an INSERT whose
   * conflict updates only a row that is not live.
   */
  async compareAndSet(
    scope: string,
    key: string,
    expected: string | undefined,
    value: string,
    ttlMs: number,
  ): Promise<boolean> {
    checks.assertStateEntry(scope, key, value, ttlMs);
    checks.assertExpected(expected);
    assertStorable('scope', scope);
    assertStorable('key', key);
    assertStorable('value', value);
    const t = this.#table;
    const params = [this.#store.namespace, scope, key, value, ttlMs];
    if (expected !== undefined) {
      if (!storable(expected)) return false;
      const r = await this.#store.statement(
        'state compare-and-set',
        `UPDATE ${t} SET value = $4, expires_at = now() + $5 * interval '1 millisecond'
         WHERE ns = $1 AND scope = $2 AND key = $3 AND value = $6 AND ${LIVE}`,
        [...params, expected],
      );
      return r.rowCount === 1;
    }
    const r = await this.#store.statement(
      'state compare-and-set',
      `INSERT INTO ${t} AS cur (ns, scope, key, value, expires_at)
       VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond')
       ON CONFLICT (ns, scope, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
       WHERE NOT (${live('cur.expires_at')})`,
      params,
    );
    return r.rowCount === 1;
  }

  /** The live value of `key`, or undefined (also for a value this library cannot have written). */
  async get(scope: string, key: string): Promise<string | undefined> {
    checks.assertStateName('scope', scope);
    checks.assertStateName('key', key);
    if (!storable(scope) || !storable(key)) return undefined;
    const r = await this.#store.statement(
      'state get',
      `SELECT value FROM ${this.#table} WHERE ns = $1 AND scope = $2 AND key = $3 AND ${LIVE}`,
      [this.#store.namespace, scope, key],
    );
    const value: unknown = r.rows[0]?.value;
    return validValue(value) ? value : undefined;
  }

  /** Removes `key`; resolves whether a live entry was there. */
  async delete(scope: string, key: string): Promise<boolean> {
    checks.assertStateName('scope', scope);
    checks.assertStateName('key', key);
    if (!storable(scope) || !storable(key)) return false;
    const r = await this.#store.statement(
      'state delete',
      `DELETE FROM ${this.#table} WHERE ns = $1 AND scope = $2 AND key = $3 RETURNING expires_at > now() AS live`,
      [this.#store.namespace, scope, key],
    );
    return r.rows[0]?.live === true;
  }

  /** Live entries of `scope`, soonest expiry first, at most `limit`; foreign ones skipped. */
  async entries(scope: string, limit?: number): Promise<Array<[key: string, value: string]>> {
    checks.assertStateName('scope', scope);
    const max = checks.stateLimit(limit);
    if (!storable(scope)) return [];
    const r = await this.#store.statement(
      'state entries',
      `SELECT key, value FROM ${this.#table} WHERE ns = $1 AND scope = $2 AND ${LIVE}
       ORDER BY expires_at LIMIT $3`,
      [this.#store.namespace, scope, max],
    );
    const out: Array<[string, string]> = [];
    for (const row of r.rows as Array<{ key: unknown; value: unknown }>) {
      if (validName(row.key) && validValue(row.value)) out.push([row.key, row.value]);
    }
    return out;
  }

  /** How many live entries `scope` has (an index range count). */
  async count(scope: string): Promise<number> {
    checks.assertStateName('scope', scope);
    if (!storable(scope)) return 0;
    const r = await this.#store.statement(
      'state count',
      `SELECT count(*)::int AS n FROM ${this.#table} WHERE ns = $1 AND scope = $2 AND ${LIVE}`,
      [this.#store.namespace, scope],
    );
    const n: unknown = r.rows[0]?.n;
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : 0;
  }

  /** The pool is the store's (closed with it): nothing of the state's own to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Shared state with expiry on PostgreSQL, over a store's pool and namespace. */
export function postgresState(options: PostgresStateOptions): PostgresState {
  return new PostgresState(options);
}
