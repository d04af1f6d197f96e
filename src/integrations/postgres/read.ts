// The store's read: the namespace's epoch and head, the requested channels' newest and trimmed
// positions, and their events after a position, from ONE statement (so one snapshot: the head,
// the gaps and the records agree) and one round trip. Rows are tagged: `n` the namespace, `c` a
// channel, `e` an event.
import { checkEpoch, checkRecord, checkSeq } from './records.js';
import type { SchemaNames } from './schema.js';
import type { ChainedRead, ChainedRecord } from './types.js';

export function readStatement(n: SchemaNames): string {
  return `WITH head AS (SELECT epoch, head FROM ${n.namespaces} WHERE ns = $1),
  chans AS (SELECT channel, last_seq, trimmed_seq FROM ${n.channels} WHERE ns = $1 AND channel = ANY($2::text[])),
  evs AS (SELECT seq, channel, body, prev_seq FROM ${n.events}
          WHERE ns = $1 AND channel = ANY($2::text[]) AND seq > $3 ORDER BY seq LIMIT $4)
  SELECT 'n' AS k, head AS seq, epoch AS channel, NULL AS body, NULL::bigint AS prev FROM head
  UNION ALL SELECT 'c', last_seq, channel, NULL, trimmed_seq FROM chans
  UNION ALL SELECT 'e', seq, channel, body, prev_seq FROM evs`;
}

interface Row {
  k: string;
  seq: unknown;
  channel: unknown;
  body: unknown;
  prev: unknown;
}

export function toReadResult(
  rows: readonly Row[],
  channels: readonly string[],
  afterSeq: number,
  n: SchemaNames,
): ChainedRead {
  let epoch = '';
  let head = 0;
  const wanted = new Set(channels);
  const lastSeq: Record<string, number> = {};
  for (const c of channels) lastSeq[c] = 0;
  const gaps: string[] = [];
  const records: ChainedRecord[] = [];
  for (const row of rows) {
    if (row.k === 'n') {
      epoch = checkEpoch(row.channel, n.namespaces, 'read');
      head = checkSeq(row.seq, n.namespaces, 'read');
    } else if (row.k === 'c') {
      if (typeof row.channel !== 'string' || !wanted.has(row.channel)) continue;
      lastSeq[row.channel] = checkSeq(row.seq, n.channels, 'read');
      if (checkSeq(row.prev, n.channels, 'read') > afterSeq) gaps.push(row.channel);
    } else {
      records.push(checkRecord(row, wanted, n.events));
    }
  }
  // UNION ALL keeps each branch's order in practice; the contract is seq order, so make sure.
  records.sort((a, b) => a.seq - b.seq);
  return { epoch, records, gaps, head, lastSeq };
}
