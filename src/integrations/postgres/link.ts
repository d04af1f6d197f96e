// Talking to PostgreSQL with bounded waits and typed errors: a connection from the pool within
// `acquireTimeoutMs` (the app's exhausted pool must not hang a publish), statements bounded by
// the client's `query_timeout`, and every failure as a PostgresUnavailableError naming the
// endpoint without its password and what the failure means for an append.

import { Events } from 'express-eventstream';
import type { Pool, PoolClient, QueryResult } from 'pg';
import { type PackageInternals, packageInternals } from '../../compose/internal-key.js';
import { PostgresUnavailableError } from './errors.js';

const internals: PackageInternals = packageInternals(Events);

/** What the store needs of a pg Pool (the app may pass its own). */
export type Queryable = Pick<Pool, 'connect'>;

/** Anything that runs a statement with parameters: a pg Client, PoolClient or Pool. */
export interface TransactionClient {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

/** The URL without its password (kept out of messages and logs); a unix socket path as is. */
export function redactUrl(url: string): string {
  return internals.redactUrl(url, 'postgres');
}

/** The endpoint of a pool the application passed in, from its options. */
export function poolEndpoint(pool: object): string {
  const o = (
    pool as { options?: { host?: string; port?: number; database?: string; connectionString?: string } }
  ).options;
  if (o?.connectionString !== undefined) return redactUrl(o.connectionString);
  return `postgres://${o?.host ?? 'localhost'}:${o?.port ?? 5432}/${o?.database ?? ''}`;
}

/** A SQLSTATE: the server answered (and rolled the statement back); none: the connection failed. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Tables or functions missing (a new, empty database): the migration runs again. */
export function isMissingSchema(err: unknown): boolean {
  const code = sqlState(err);
  return code === '42P01' || code === '42883';
}

/** A connection from `pool` within `timeoutMs`; one that arrives later goes straight back. */
export function acquire(pool: Queryable, timeoutMs: number): Promise<PoolClient> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new Error(`no free connection in the pool within ${timeoutMs} ms`));
    }, timeoutMs);
    pool.connect().then(
      (client) => {
        if (settled) client.release();
        else {
          settled = true;
          clearTimeout(timer);
          resolve(client);
        }
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * Runs one statement on a pooled connection; with a `name`, as a prepared statement (parsed and
 * planned once per connection, then only bound and executed). A failure is a PostgresUnavailableError; for an
 * append, `outcome` is `'unknown'` only when the statement was sent and the connection then
 * failed (the server may have committed it), else `'not-stored'`.
 */
export async function runStatement(
  pool: Queryable,
  timeoutMs: number,
  endpoint: string,
  operation: string,
  text: string,
  values: unknown[],
  append = false,
  name?: string,
  sentTo?: (backendPid: number) => void,
): Promise<QueryResult> {
  let client: PoolClient;
  try {
    client = await acquire(pool, timeoutMs);
  } catch (cause) {
    throw new PostgresUnavailableError(operation, {
      cause,
      endpoint,
      outcome: append ? 'not-stored' : undefined,
    });
  }
  // pg's pool listens for errors of idle connections only; a checked-out one that the server ends
  // (a restart, a failover) emits 'error' besides failing its query: unheard, that would crash the
  // process. The query's own rejection carries the failure.
  const ignore = () => {};
  client.on('error', ignore);
  const release = (err?: Error) => {
    client.removeListener('error', ignore);
    client.release(err);
  };
  try {
    const pid = (client as { processID?: unknown }).processID;
    if (sentTo !== undefined && typeof pid === 'number') sentTo(pid);
    const result = await (name === undefined
      ? client.query(text, values)
      : client.query({ name, text, values }));
    release();
    return result;
  } catch (cause) {
    const answered = sqlState(cause) !== undefined;
    // A connection that failed mid-statement is not reused.
    release(answered ? undefined : (cause as Error));
    if (answered && isMissingSchema(cause)) throw cause;
    const outcome = append ? (answered ? 'not-stored' : 'unknown') : undefined;
    throw new PostgresUnavailableError(operation, { cause, endpoint, outcome });
  }
}
