// The store's connection to PostgreSQL: its own pool from a URL (closed with the store) or the
// app's pool (left open), the migration on first use (again when the tables vanish: a failover to
// an empty database), and every statement through runStatement()'s bounded waits and typed errors.
import { createHash } from 'node:crypto';
import { InvalidOptionError } from 'express-eventstream';
import pg from 'pg';
import { PostgresUnavailableError } from './errors.js';
import { isMissingSchema, poolEndpoint, type Queryable, redactUrl, runStatement } from './link.js';
import { assertPostgresUrl } from './options.js';
import { LOCK_CLASS, migrationSql } from './schema.js';

export interface DatabaseOptions {
  readonly url: string | undefined;
  readonly pool: pg.Pool | undefined;
  readonly prefix: string;
  readonly migrate: boolean;
  readonly acquireTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly poolSize: number;
}

export class Database {
  readonly pool: pg.Pool;
  /** The URL without its password, named by every PostgresUnavailableError. */
  readonly endpoint: string;
  readonly #owned: boolean;
  readonly #options: DatabaseOptions;
  /** Prepared statements' names by text (a name stands for one text on every connection). */
  readonly #names = new Map<string, string>();
  #migrated: Promise<void> | undefined;
  #closed = false;

  constructor(options: DatabaseOptions) {
    this.#options = options;
    if (options.pool !== undefined && options.url !== undefined) {
      throw new InvalidOptionError('url', 'pass either pool or url, not both');
    }
    if (options.pool !== undefined) {
      // Duck-typed: the app's pg may be another copy than the one this module resolves.
      if (typeof (options.pool as Partial<Queryable> | null)?.connect !== 'function') {
        throw new InvalidOptionError('pool', 'pool must be a pg Pool');
      }
      this.pool = options.pool;
      this.#owned = false;
      this.endpoint = poolEndpoint(options.pool);
    } else if (options.url !== undefined) {
      assertPostgresUrl(options.url);
      this.pool = new pg.Pool({
        connectionString: options.url,
        max: options.poolSize,
        connectionTimeoutMillis: options.acquireTimeoutMs,
        query_timeout: options.statementTimeoutMs,
        keepAlive: true,
      });
      // An idle connection ended by the server: the pool drops it; the next statement reconnects.
      this.pool.on('error', () => {});
      this.#owned = true;
      this.endpoint = redactUrl(options.url);
    } else {
      throw new InvalidOptionError('url', 'postgresStore() needs a url or a pool');
    }
  }

  /** The tables and functions exist (the migration ran, when the store runs it). */
  ready(): Promise<void> {
    if (!this.#options.migrate) return Promise.resolve();
    this.#migrated ??= this.#migrateNow().catch((err: unknown) => {
      this.#migrated = undefined;
      throw err;
    });
    return this.#migrated;
  }

  /** One statement; an append's failure says whether it may have been stored (`outcome`). */
  async run(
    operation: string,
    text: string,
    values: unknown[],
    append = false,
    sentTo?: (backendPid: number) => void,
  ): Promise<pg.QueryResult> {
    if (this.#closed) {
      throw new PostgresUnavailableError(operation, {
        endpoint: this.endpoint,
        cause: new Error('store closed'),
      });
    }
    await this.ready();
    const name = this.#nameOf(text);
    const go = () =>
      runStatement(
        this.pool,
        this.#options.acquireTimeoutMs,
        this.endpoint,
        operation,
        text,
        values,
        append,
        name,
        sentTo,
      );
    try {
      return await go();
    } catch (err) {
      if (!isMissingSchema(err)) throw err;
      if (!this.#options.migrate) {
        throw new PostgresUnavailableError(operation, {
          endpoint: this.endpoint,
          cause: err,
          outcome: append ? 'not-stored' : undefined,
        });
      }
      // The tables are gone (a failover to an empty database): migrate again once, then retry.
      this.#migrated = undefined;
      await this.ready();
      return await go();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await this.pool.end().catch(() => {});
  }

  /**
   * Every statement of the engine is prepared: the server parses and plans it once per pooled
   * connection instead of on every publish and read. The name is a digest of the text, so two
   * stores with other table prefixes on one app pool never reuse each other's statement.
   */
  #nameOf(text: string): string {
    let name = this.#names.get(text);
    if (name === undefined) {
      name = `ees_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
      this.#names.set(text, name);
    }
    return name;
  }

  async #migrateNow(): Promise<void> {
    // One simple query is one implicit transaction: all of it or none, under the lock.
    const sql = `SELECT pg_advisory_xact_lock(${LOCK_CLASS}, 0); ${migrationSql(this.#options.prefix)}`;
    try {
      await runStatement(this.pool, this.#options.acquireTimeoutMs, this.endpoint, 'migration', sql, []);
    } catch (err) {
      if (err instanceof PostgresUnavailableError) throw err;
      throw new PostgresUnavailableError('migration', { cause: err, endpoint: this.endpoint });
    }
  }
}
