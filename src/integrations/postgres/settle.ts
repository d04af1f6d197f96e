// An append whose connection failed after it was sent: did it commit? The backend that got it is
// ended first (pg_terminate_backend, waited for), so it cannot commit after we looked; then the
// append's token (written by the append function in the same transaction) tells. No superuser
// needed: a role may end its own backends. With idempotency keys, the token's range holds only
// the events stored; the keys table tells which items were those and what the others repeated.
import type pg from 'pg';
import type { Database } from './database.js';
import { PostgresUnavailableError } from './errors.js';
import type { SchemaNames } from './schema.js';

export interface LostAppend {
  /** The token the append carried. */
  readonly token: string;
  /** The backend the append was sent to. */
  readonly backend: number;
  /** Each item's idempotency key (null: none); as many as the append had items. */
  readonly keys: ReadonlyArray<string | null>;
  /** The failure, with `outcome: 'unknown'`. */
  readonly cause: PostgresUnavailableError;
  /** How long to wait for the backend to end. */
  readonly waitMs: number;
}

/** One item's answer, as the append function gives it (checked by the caller). */
export interface AppendRow {
  readonly r_epoch: unknown;
  readonly r_seq: unknown;
  readonly r_prev: unknown;
  readonly r_dup: unknown;
}

/**
 * Stored: the append's rows, as the append function would have answered (`r_epoch`, `r_seq`,
 * `r_prev`, `r_dup`). Not stored: rejects with `outcome: 'not-stored'`. Unanswerable (the server
 * is away too, the backend did not end in time, retention took rows already): rejects with `cause`.
 */
export async function settleAppend(
  db: Database,
  n: SchemaNames,
  namespace: string,
  lost: LostAppend,
): Promise<{ rows: AppendRow[] }> {
  let r: pg.QueryResult;
  let keyed: pg.QueryResult | undefined;
  const keys = [...new Set(lost.keys.filter((k) => k !== null))];
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
      `SELECT ns.epoch AS r_epoch, e.seq AS r_seq, e.prev_seq AS r_prev, false AS r_dup,
         a.first_seq AS first, a.last_seq - a.first_seq + 1 AS k
       FROM ${n.appends} a JOIN ${n.namespaces} ns ON ns.ns = a.ns
       LEFT JOIN ${n.events} e ON e.ns = a.ns AND e.seq BETWEEN a.first_seq AND a.last_seq
       WHERE a.ns = $1 AND a.token = $2 ORDER BY e.seq`,
      [namespace, lost.token],
    );
    if (keys.length > 0 && r.rows.length > 0) {
      keyed = await db.run(
        'append check',
        `SELECT key, seq, prev_seq FROM ${n.keys} WHERE ns = $1 AND key = ANY($2::text[])`,
        [namespace, keys],
      );
    }
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
  if (keyed !== undefined) return withKeys(r.rows, keyed.rows, lost);
  const complete =
    r.rows.length === lost.keys.length &&
    r.rows.every((row) => row.r_seq !== null && Number(row.k) === lost.keys.length);
  if (!complete) throw lost.cause;
  return r;
}

/**
 * The answer of a stored append with keys, rebuilt: an item without a key, or the first of its key
 * whose key row points into the token's range, was stored (the range's events, in item order); a
 * later item of the same key answers as that first one; any other repeated an earlier append (its
 * key row). Anything that does not add up (a key row gone or replaced since: a window shorter than
 * this check) leaves the outcome unknown.
 */
function withKeys(
  events: ReadonlyArray<Record<string, unknown>>,
  keyRows: ReadonlyArray<Record<string, unknown>>,
  lost: LostAppend,
): { rows: AppendRow[] } {
  const first = Number(events[0]!.first);
  const count = Number(events[0]!.k);
  const stored: AppendRow[] = events
    .filter((e) => e.r_seq !== null)
    .map((e) => ({ r_epoch: e.r_epoch, r_seq: e.r_seq, r_prev: e.r_prev, r_dup: e.r_dup }));
  if (stored.length !== count) throw lost.cause;
  const byKey = new Map(keyRows.map((row) => [row.key, row]));
  const answered = new Map<string, AppendRow>();
  const rows: AppendRow[] = [];
  let next = 0;
  for (const key of lost.keys) {
    let row = key === null ? undefined : answered.get(key);
    if (row === undefined) {
      const record = key === null ? undefined : byKey.get(key);
      if (key !== null && record === undefined) throw lost.cause;
      const seq = Number(record?.seq);
      if (record === undefined || (seq >= first && seq < first + count)) {
        row = stored[next++];
        if (row === undefined || (record !== undefined && Number(row.r_seq) !== seq)) throw lost.cause;
      } else {
        row = { r_epoch: events[0]!.r_epoch, r_seq: record.seq, r_prev: record.prev_seq, r_dup: true };
      }
      if (key !== null) answered.set(key, row.r_dup === true ? row : { ...row, r_dup: true });
    }
    rows.push(row);
  }
  if (next !== count) throw lost.cause;
  return { rows };
}
