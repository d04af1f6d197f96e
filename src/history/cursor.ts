// A client's position in the history, as its Last-Event-ID says it. A plain id `<epoch>-<seq>`
// is one position for every channel: true for a direct stream, which delivers in seq order across
// channels. A GRIP proxy delivers per channel, so a later event on `b` can reach a client before
// an earlier one on `a`; there the id is composite, `<tag>:<id>.<id>…`, one id per channel in
// sorted name order (Pushpin fills it in per connection from each channel's last id, see
// grip/build-id.ts), and `<tag>` names the channel set so an id is never read against another set.
import { MAX_EVENT_ID_LENGTH } from '../base/encoder.js';
import type { EventStore, StoredRecord } from '../engine/store.js';
import { assertEpoch, formatId, parseSeq } from './ids.js';
import { readAfterShared } from './shared-reads.js';

/** What a Last-Event-ID locates: one seq, one per channel, nothing, or why it cannot be used. */
export type Position = number | PerChannel | 'fresh' | 'malformed-id' | 'unknown-id';

/** A position per channel (every channel of the stream has one). */
export interface PerChannel {
  readonly seqs: Readonly<Record<string, number>>;
}

const TAG = /^[0-9a-z]{1,7}$/;
/** 20 channels of 34-character ids, with room to spare; longer is garbage (the one id cap). */
const MAX_COMPOSITE = MAX_EVENT_ID_LENGTH;

/** The order of the ids in a composite: by UTF-16 code units, as on both sides of the proxy. */
export function sortedChannels(channels: readonly string[]): string[] {
  return [...channels].sort();
}

/** FNV-1a of the sorted names in base 36: identifies the channel set, not a secret. */
export function channelSetTag(sorted: readonly string[]): string {
  let hash = 0x811c9dc5;
  const text = sorted.join('\n');
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(36);
}

/** Parses a Last-Event-ID for a stream on `channels` in the store's current `epoch`. */
export function parsePosition(id: string | undefined, epoch: string, channels: readonly string[]): Position {
  const colon = id === undefined ? -1 : id.indexOf(':');
  if (id === undefined || colon === -1) return parseSeq(id, epoch);
  if (id.length > MAX_COMPOSITE || !TAG.test(id.slice(0, colon))) return 'malformed-id';
  const parts = id.slice(colon + 1).split('.');
  const sorted = sortedChannels(channels);
  const seqs: Record<string, number> = {};
  let foreign = parts.length !== sorted.length || id.slice(0, colon) !== channelSetTag(sorted);
  for (const [i, part] of parts.entries()) {
    const seq = parseSeq(part, epoch);
    if (seq === 'fresh' || seq === 'malformed-id') return 'malformed-id';
    if (seq === 'unknown-id') foreign = true;
    else if (sorted[i] !== undefined) seqs[sorted[i]] = seq;
  }
  // Another channel set's positions, or another epoch's: the client's place is unknown here.
  return foreign ? 'unknown-id' : { seqs };
}

/** The highest seq the position claims: above the history's head it is from the future. */
export function claimedHead(position: number | PerChannel): number {
  return typeof position === 'number' ? position : Math.max(...Object.values(position.seqs));
}

/** A composite id: each channel's id, in sorted order, behind the set's tag (one channel: its id). */
export function compositeId(
  epoch: string,
  sorted: readonly string[],
  seqs: Readonly<Record<string, number>>,
): string {
  const ids = sorted.map((c) => formatId(epoch, seqs[c] ?? 0));
  return ids.length === 1 ? ids[0]! : `${channelSetTag(sorted)}:${ids.join('.')}`;
}

/**
 * The id of each event of a complete replay, in seq order, from `position`: after the event at
 * `seq` the client has, on each channel, everything up to its old position or `seq`, whichever is
 * later. Once `seq` passes every channel's position that is a plain id again.
 */
export function replayIds(
  epoch: string,
  channels: readonly string[],
  position: number | PerChannel,
): (seq: number) => string {
  if (typeof position === 'number') return (seq) => formatId(epoch, seq);
  const sorted = sortedChannels(channels);
  const top = claimedHead(position);
  return (seq) => {
    if (seq >= top) return formatId(epoch, seq);
    const seqs: Record<string, number> = {};
    for (const c of sorted) seqs[c] = Math.max(position.seqs[c] ?? 0, seq);
    return compositeId(epoch, sorted, seqs);
  };
}

/** What a per-channel read found: like a `ReadResult`, every channel complete up to `head`. */
export interface PerChannelRead {
  readonly epoch: string;
  /** The lowest head among the reads: events above it are left to live delivery. */
  readonly head: number;
  /** Each channel's events after its own position, up to `head`, in seq order. */
  readonly records: readonly StoredRecord[];
  readonly gaps: readonly string[];
  /** Per channel, its newest event up to `head` (its position when that is unknown). */
  readonly lastSeq: Readonly<Record<string, number>>;
}

/**
 * Reads each channel after its own position: one read per distinct position, concurrently (and
 * shared with identical reads, see shared-reads.ts). A read from the earliest position would
 * drag a busy channel's whole history along behind a quiet one, and report retention that only
 * cut into events the client has as a gap. Undefined when the reads saw different epochs.
 */
export async function readPerChannel(
  store: EventStore,
  seqs: Readonly<Record<string, number>>,
): Promise<PerChannelRead | undefined> {
  const groups = new Map<number, string[]>();
  for (const [channel, seq] of Object.entries(seqs)) groups.set(seq, [...(groups.get(seq) ?? []), channel]);
  const reads = await Promise.all(
    [...groups].map(([seq, channels]) => readAfterShared(store, channels, seq)),
  );
  const epoch = reads[0]!.epoch;
  assertEpoch(epoch);
  if (reads.some((r) => r.epoch !== epoch)) return undefined;
  const head = Math.min(...reads.map((r) => r.head));
  const records: StoredRecord[] = [];
  const lastSeq: Record<string, number> = {};
  const gaps: string[] = [];
  for (const read of reads) {
    gaps.push(...read.gaps);
    for (const record of read.records) if (record.seq <= head) records.push(record);
    for (const [channel, last] of Object.entries(read.lastSeq)) {
      if (last <= head) lastSeq[channel] = last;
    }
  }
  records.sort((x, y) => x.seq - y.seq);
  // Appended between the reads: the newest up to the common head is then among the records, or
  // at most the position (or the head): an approximation only a proxy's prev-id sees, and which
  // costs it one recovery fetch from there.
  const missing = Object.keys(seqs).filter((c) => lastSeq[c] === undefined);
  for (const channel of missing) lastSeq[channel] = Math.min(seqs[channel]!, head);
  for (const record of records) if (missing.includes(record.channel)) lastSeq[record.channel] = record.seq;
  return { epoch, head, records, gaps, lastSeq };
}
