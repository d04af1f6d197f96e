// Resuming: which stored events a (re)connecting client gets before live ones.
import { encodeStreamOpen, encodeStreamReset, withId } from '../core/encoder.js';
import {
  claimedHead,
  lacks,
  type PerChannel,
  parsePosition,
  readStart,
  realGaps,
  replayIds,
} from './cursor.js';
import { assertEpoch, formatId, idsOf, type ResetReason } from './ids.js';
import { readAfterShared } from './shared-reads.js';
import type { EventStore, StoredRecord } from './store.js';

export interface ResumePlan {
  /** SSE text to send after the preamble and before live events, starting with `stream-open`. */
  text: string;
  /** Live events with `seq` up to this are already covered by `text` (or by the client). */
  coveredUpTo: number;
  /** Per channel, the id of the newest event the client has once `text` is written (GRIP `prev-id`). */
  lastIds: Record<string, string>;
  /** Replayed events (for counters and tests). */
  replayed: number;
  reset: { channels: string[]; reason: ResetReason } | undefined;
}

// Every read goes through readAfterShared: clients resuming at once from the same position share
// one read (a reconnect storm), and a shared result is only read here, never changed.

/**
 * Decide what a client gets before live events. Fresh clients get `stream-open` with an id
 * marking "now", so that even a client that receives nothing can resume without loss. Resuming
 * clients get every stored event after their id; channels whose events after it were evicted,
 * or an id this history cannot place, get a `stream-reset` whose id moves the client to "now".
 */
export async function planResume(
  store: EventStore,
  channels: readonly string[],
  lastEventId: string | undefined,
): Promise<ResumePlan> {
  const hint = await store.epoch();
  const parsed = parsePosition(lastEventId, hint, channels);
  const read = await readAfterShared(
    store,
    channels,
    usable(parsed) ? readStart(parsed) : Number.MAX_SAFE_INTEGER,
  );
  // Ids are judged against, and formatted in, the epoch the read happened in.
  const { epoch, head } = read;
  assertEpoch(epoch);
  const position = judged(parsed, hint, epoch, head);
  const lastIds = idsOf(epoch, channels, read.lastSeq);
  if (position === 'fresh') {
    const text = encodeStreamOpen({ id: formatId(epoch, head) });
    return { text, coveredUpTo: head, lastIds, replayed: 0, reset: undefined };
  }
  // A resumed stream's stream-open keeps the client's id and says how many replayed events
  // follow, so a client can tell replayed events from live ones.
  const records = usable(position) ? read.records.filter((r) => lacks(position, r)) : [];
  let text = encodeStreamOpen({ replayed: records.length });
  if (usable(position)) {
    const idOf = replayIds(epoch, channels, position);
    for (const record of records) text += withId(idOf(record.seq), record.body);
  }
  let reset: ResumePlan['reset'];
  if (!usable(position)) reset = { channels: [...channels], reason: position };
  else {
    const gaps = await realGaps(store, position, read.gaps, readStart(position));
    if (gaps.length > 0) reset = { channels: gaps, reason: 'expired' };
  }
  if (reset !== undefined) text += resetText(epoch, head, reset.channels, reset.reason);
  return { text, coveredUpTo: head, lastIds, replayed: records.length, reset };
}

function usable(position: ReturnType<typeof parsePosition>): position is number | PerChannel {
  return typeof position === 'number' || typeof position === 'object';
}

/** A position from another epoch than the read's, or past its head, is unknown. */
function judged(
  parsed: ReturnType<typeof parsePosition>,
  hint: string,
  epoch: string,
  head: number,
): ReturnType<typeof parsePosition> {
  return usable(parsed) && (epoch !== hint || claimedHead(parsed) > head) ? 'unknown-id' : parsed;
}

/** Records of the first read of a streamed resume: most resumes fit in it, so one read suffices. */
const FIRST_PAGE = 128;
const MIN_PAGE = 16;
const MAX_PAGE = 4096;
/** Replay text is handed to the connection in pieces of about this size. */
const PIECE_CHARS = 64 * 1024;

/** A direct client's resume, streamed from the store as the client takes it. */
export interface ResumeStream {
  /** Live events with `seq` up to this are covered by the replay (or by the client). */
  coveredUpTo: number;
  /** Events the replay announces in `stream-open` (for counters and tests). */
  replayed: number;
  /**
   * In order: `preamble` + `stream-open`, the replayed events, any `stream-reset`. Pages are read
   * from the store only as pieces are taken; ending the iteration early stops the reads.
   */
  pieces: AsyncGenerator<string, void, undefined>;
}

/**
 * `planResume` for a connection that can take its replay in pieces: the same bytes, but at most
 * about `pageBytes` of stored events are read ahead of what the client took. `onReset` is called
 * if a `stream-reset` is written (it may only be known at the end of a long replay).
 */
export async function openResume(
  store: EventStore,
  channels: readonly string[],
  lastEventId: string | undefined,
  options: {
    preamble: string;
    pageBytes: number;
    onReset: (channels: readonly string[], reason: ResetReason) => void;
  },
): Promise<ResumeStream> {
  const { preamble, pageBytes, onReset } = options;
  const hint = await store.epoch();
  const parsed = parsePosition(lastEventId, hint, channels);
  const start = usable(parsed) ? readStart(parsed) : Number.MAX_SAFE_INTEGER;
  const first = await readAfterShared(store, channels, start, FIRST_PAGE);
  const { epoch, head } = first;
  assertEpoch(epoch);
  // The position is judged against the epoch the read happened in.
  const position = judged(parsed, hint, epoch, head);
  if (position === 'fresh') {
    const text = preamble + encodeStreamOpen({ id: formatId(epoch, head) });
    return { coveredUpTo: head, replayed: 0, pieces: once(text) };
  }
  if (!usable(position)) {
    onReset(channels, position);
    const text = preamble + encodeStreamOpen({ replayed: 0 }) + resetText(epoch, head, channels, position);
    return { coveredUpTo: head, replayed: 0, pieces: once(text) };
  }
  const at: number | PerChannel = position;
  const confirm = (gaps: readonly string[], from: number) => realGaps(store, at, gaps, from);
  const gaps = new Set(await confirm(first.gaps, start));
  const firstRecords = first.records.filter((r) => lacks(position, r));
  const complete = first.records.length < FIRST_PAGE;
  const resumeAt = first.records.at(-1)?.seq ?? start;
  const rest = channels.filter((c) => !gaps.has(c));
  const pages = () => readPages(store, rest, resumeAt, { epoch, head, pageBytes, confirm });
  // stream-open announces the count, so a replay longer than one page is counted first, page by
  // page, without keeping what is read.
  let replayed = firstRecords.length;
  if (!complete) {
    for await (const page of pages()) replayed += page.records.filter((r) => lacks(position, r)).length;
  }
  const idOf = replayIds(epoch, channels, position);
  async function* pieces(): AsyncGenerator<string, void, undefined> {
    let text = preamble + encodeStreamOpen({ replayed });
    for (const record of firstRecords) {
      text += withId(idOf(record.seq), record.body);
      if (text.length >= PIECE_CHARS) {
        yield text;
        text = '';
      }
    }
    if (!complete) {
      for await (const page of pages()) {
        // A channel whose next events expired while the replay was being written: the reset
        // at the end moves the client past them.
        for (const channel of page.gaps) gaps.add(channel);
        for (const record of page.records) {
          if (!lacks(at, record)) continue;
          text += withId(idOf(record.seq), record.body);
          if (text.length >= PIECE_CHARS) {
            yield text;
            text = '';
          }
        }
      }
    }
    if (gaps.size > 0) {
      const lost = channels.filter((c) => gaps.has(c));
      onReset(lost, 'expired');
      text += resetText(epoch, head, lost, 'expired');
    }
    if (text !== '') yield text;
  }
  return { coveredUpTo: head, replayed, pieces: pieces() };
}

/**
 * Pages of stored events on `channels` after `afterSeq` up to `head`, each about `pageBytes`
 * (its record count adapts to the sizes seen). Channels with a gap are reported once, then
 * left out of later reads.
 */
async function* readPages(
  store: EventStore,
  channels: readonly string[],
  afterSeq: number,
  options: {
    epoch: string;
    head: number;
    pageBytes: number;
    /** The gaps of a read from `from` that are real at the client's own positions. */
    confirm: (gaps: readonly string[], from: number) => Promise<string[]>;
  },
): AsyncGenerator<{ records: readonly StoredRecord[]; gaps: readonly string[] }, void, undefined> {
  const { epoch, head, pageBytes, confirm } = options;
  let active = [...channels];
  let after = afterSeq;
  let limit = FIRST_PAGE;
  while (active.length > 0 && after < head) {
    const read = await readAfterShared(store, active, after, limit);
    if (read.epoch !== epoch) throw new Error('the event history was reset during a replay');
    const gaps = await confirm(
      read.gaps.filter((c) => active.includes(c)),
      after,
    );
    if (gaps.length > 0) active = active.filter((c) => !gaps.includes(c));
    let end = read.records.length;
    while (end > 0 && read.records[end - 1]!.seq > head) end--;
    const records = end === read.records.length ? read.records : read.records.slice(0, end);
    yield { records, gaps };
    if (read.records.length < limit || end < read.records.length) return;
    after = records.at(-1)!.seq;
    let bytes = 0;
    for (const record of records) bytes += record.body.length;
    limit = Math.min(
      MAX_PAGE,
      Math.max(MIN_PAGE, Math.floor(pageBytes / Math.max(1, bytes / records.length))),
    );
  }
}

async function* once(text: string): AsyncGenerator<string, void, undefined> {
  yield text;
}

/** `stream-reset` at the current head: the id moves the client past what it cannot get. */
export function resetText(
  epoch: string,
  head: number,
  channels: readonly string[],
  reason: ResetReason,
): string {
  return encodeStreamReset(formatId(epoch, head), channels, reason);
}
