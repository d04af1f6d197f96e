// An append whose connection failed after it was sent: did it commit? The backend that got it is
// ended first (pg_terminate_backend, waited for), so it cannot commit after we looked; then the
// append's token (written by the append function in the same transaction) tells. No superuser
// needed: a role may end its own backends.
import type pg from 'pg';
import type { Database } from './database.js';
import { PostgresUnavailableError } from './errors.js';
import type { SchemaNames } from './schema.js';

export interface LostAppend {
  /** The token the append carried. */
  readonly token: string;
  /** The backend the append was sent to. */
  readonly backend: number;
  /** Events in the append. */
  readonly count: number;
  /** The failure, with `outcome: 'unknown'`. */
  readonly cause: PostgresUnavailableError;
  /** How long to wait for the backend to end. */
  readonly waitMs: number;
}

/**
 * Stored: the append's rows, as the append function would have answered (`r_epoch`, `r_seq`,
 * `r_prev`). Not stored: rejects with `outcome: 'not-stored'`. Unanswerable (the server is away
 * too, the backend did not end in time, retention took rows already): rejects with `cause`.
 */
export async function settleAppend(
  db: Database,
  n: SchemaNames,
  namespace: string,
  lost: LostAppend,
): Promise<pg.QueryResult> {
  let r: pg.QueryResult;
  try {
    await db.run('append check', 'SELECT pg_terminate_backend($1::int, $2::bigint)', [
      lost.backend,
      lost.waitMs,
    ]);
    const alive = await db.run('append check', 'SELECT 1 FROM pg_stat_activity WHERE pid = $1::int', [
      lost.backend,
    ]);
    if (alive.rows.length > 0) throw lost.cause;
    r = await db.run(
      'append check',
      `SELECT ns.epoch AS r_epoch, e.seq AS r_seq, e.prev_seq AS r_prev, a.last_seq - a.first_seq + 1 AS k
       FROM ${n.appends} a JOIN ${n.namespaces} ns ON ns.ns = a.ns
       LEFT JOIN ${n.events} e ON e.ns = a.ns AND e.seq BETWEEN a.first_seq AND a.last_seq
       WHERE a.ns = $1 AND a.token = $2 ORDER BY e.seq`,
      [namespace, lost.token],
    );
  } catch {
    throw lost.cause;
  }
  if (r.rows.length === 0) {
    throw new PostgresUnavailableError('append', {
      endpoint: lost.cause.endpoint,
      cause: lost.cause.cause,
      outcome: 'not-stored',
    });
  }
  const complete =
    r.rows.length === lost.count && r.rows.every((row) => row.r_seq !== null && Number(row.k) === lost.count);
  if (!complete) throw lost.cause;
  return r;
}
