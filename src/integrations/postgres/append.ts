// One append of the Postgres store: a single statement (the append function, schema.ts) carrying
// a fresh token that the function records in the same transaction; when the connection fails
// after sending it, settle.ts ends that backend and looks the token up. The rows it answers are
// checked before they become ids. Idempotency keys go along only when an item has one (null
// otherwise: the function's keyless path, no lookup).
import { randomBytes } from 'node:crypto';
import type { Database } from './database.js';
import { PostgresDataError, PostgresUnavailableError } from './errors.js';
import { checkEpoch, checkFlag, checkSeq } from './records.js';
import type { SchemaNames } from './schema.js';
import { type AppendRow, settleAppend } from './settle.js';
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
  /** How long (ms) an idempotency key written by this append is remembered. */
  readonly keyWindowMs: number;
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
  const keys = items.some((i) => i.key !== undefined) ? items.map((i) => i.key ?? null) : null;
  let backend: number | undefined;
  let r: { rows: AppendRow[] };
  try {
    r = await db.run(
      'append',
      `SELECT r_epoch, r_seq, r_prev, r_dup FROM ${n.append}($1, $2::text[], $3::text[], $4, $5, $6::text[], $7)`,
      [
        namespace,
        items.map((i) => i.channel),
        items.map((i) => i.body),
        context.epoch,
        token,
        keys,
        context.keyWindowMs,
      ],
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
      keys: keys ?? items.map(() => null),
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
  const epoch = checkEpoch(r.rows[0]!.r_epoch, n.namespaces, 'append');
  const events = r.rows.map((row, i): AppendResult => {
    const duplicate = checkFlag(row.r_dup, n.append, 'append');
    // A duplicate's seqs come from the keys table: a key's event precedes it on its channel, and
    // only an item with a key can be one.
    const table = duplicate ? n.keys : n.events;
    const seq = checkSeq(row.r_seq, table, 'append');
    const prevSeq = checkSeq(row.r_prev, table, 'append');
    if (!duplicate) return { seq, prevSeq };
    if (items[i]!.key === undefined || seq < 1 || prevSeq >= seq) {
      throw new PostgresDataError('append', n.keys, `holds a foreign idempotency record for seq ${seq}`);
    }
    return { seq, prevSeq, duplicate };
  });
  return { epoch, events };
}
