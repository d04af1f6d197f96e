// Everything read back from the tables is checked before it can reach a client: an epoch in the
// id grammar, sequence numbers that are positive safe integers, and event text this library
// could have written (known fields, one event, no id line). Anything else is foreign data.
import { PostgresDataError } from './errors.js';
import type { ChainedRecord } from './types.js';

const EPOCH = /^[0-9a-z]{1,16}$/;
// `event:`, `retry:`, then one or more `data` lines, then the blank line: what encodeFields writes.
const BODY = /^(?:event: [^\n\r]*\n)?(?:retry: \d+\n)?(?:data:(?: [^\n\r]*)?\n)+\n$/;

export function checkEpoch(value: unknown, table: string, operation: string): string {
  if (typeof value !== 'string' || !EPOCH.test(value)) {
    throw new PostgresDataError(operation, table, 'holds an epoch that is not 1-16 of 0-9 a-z');
  }
  return value;
}

export function checkSeq(value: unknown, table: string, operation: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new PostgresDataError(operation, table, 'holds a sequence number that is not a safe integer');
  }
  return n;
}

/** A flag the engine's function answers (a boolean column). */
export function checkFlag(value: unknown, table: string, operation: string): boolean {
  if (typeof value !== 'boolean') {
    throw new PostgresDataError(operation, table, 'holds a flag that is not a boolean');
  }
  return value;
}

/** One event row, checked. */
export function checkRecord(
  row: { seq: unknown; channel: unknown; body: unknown; prev: unknown },
  channels: ReadonlySet<string>,
  table: string,
): ChainedRecord {
  const seq = checkSeq(row.seq, table, 'read');
  const prevSeq = checkSeq(row.prev, table, 'read');
  if (typeof row.channel !== 'string' || !channels.has(row.channel) || prevSeq >= seq) {
    throw new PostgresDataError('read', table, `holds a foreign row at seq ${seq}`);
  }
  if (typeof row.body !== 'string' || !BODY.test(row.body)) {
    throw new PostgresDataError('read', table, `holds event text this library did not write at seq ${seq}`);
  }
  return { seq, channel: row.channel, body: row.body, prevSeq };
}
