// One append of the Postgres store: a single statement (the append function, schema.ts) carrying
// a fresh token that the function records in the same transaction; when the connection fails
// after sending it, settle.ts ends that backend and looks the token up. The rows it answers are
// checked before they become ids.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Database } from './database.js';
import { PostgresUnavailableError } from './errors.js';
import { checkEpoch, checkSeq } from './records.js';
import type { SchemaNames } from './schema.js';
import { settleAppend } from './settle.js';
import type { AppendItem, AppendResult } from './types.js';

/** A fresh epoch candidate: 8 base-36 characters (the database keeps an existing one). */
export function newEpoch(): string {
  return randomBytes(6).readUIntBE(0, 6).toString(36).padStart(8, '0').slice(-8);
}

export interface AppendContext {
  /** The epoch a namespace gets if this append creates it. */
  readonly epoch: string;
  /** How long a lost append's backend may take to end before its outcome stays unknown. */
  readonly waitMs: number;
}

/** Appends `items` (at least one) all or none; rejects with a PostgresUnavailableError and its outcome. */
export async function appendEvents(
  db: Database,
  n: SchemaNames,
  namespace: string,
  items: ReadonlyArray<AppendItem>,
  context: AppendContext,
): Promise<{ epoch: string; events: AppendResult[] }> {
  const token = randomBytes(12).toString('base64url');
  let backend: number | undefined;
  let r: pg.QueryResult;
  try {
    r = await db.run(
      'append',
      `SELECT r_epoch, r_seq, r_prev FROM ${n.append}($1, $2::text[], $3::text[], $4, $5)`,
      [namespace, items.map((i) => i.channel), items.map((i) => i.body), context.epoch, token],
      true,
      (pid) => {
        backend = pid;
      },
    );
  } catch (err) {
    if (!(err instanceof PostgresUnavailableError) || err.outcome !== 'unknown' || backend === undefined) {
      throw err;
    }
    r = await settleAppend(db, n, namespace, {
      token,
      backend,
      count: items.length,
      cause: err,
      waitMs: context.waitMs,
    });
  }
  if (r.rows.length !== items.length) {
    throw new PostgresUnavailableError('append', {
      endpoint: db.endpoint,
      cause: new Error(`the append function returned ${r.rows.length} rows for ${items.length} events`),
      outcome: 'unknown',
    });
  }
  const epoch = checkEpoch(r.rows[0].r_epoch, n.namespaces, 'append');
  const events = r.rows.map((row) => ({
    seq: checkSeq(row.r_seq, n.events, 'append'),
    prevSeq: checkSeq(row.r_prev, n.events, 'append'),
  }));
  return { epoch, events };
}
