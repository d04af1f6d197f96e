// Resuming: which stored events a (re)connecting client gets before live ones.
import { encodeChannelField, encodeStreamOpen, encodeStreamReset, withId } from '../base/encoder.js';
import type { EventStore, StoredRecord } from '../engine/store.js';
import { claimedHead, type Position, parsePosition, readPerChannel, replayIds } from './cursor.js';
import { assertEpoch, formatId, idsOf, parseSeq, type ResetReason } from './ids.js';
import { readAfterShared } from './shared-reads.js';

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
  keep?: Keep,
  tagged = false,
): Promise<ResumePlan> {
  const hint = await store.epoch();
  const parsed = parsePosition(lastEventId, hint, channels);
  if (typeof parsed === 'object') {
    const read = await readPerChannel(store, parsed.seqs);
    if (read !== undefined && read.epoch === hint && claimedHead(parsed) <= read.head) {
      return replayPlan(read, channels, parsed, keep, tagged);
    }
  }
  const read = await readAfterShared(
    store,
    channels,
    typeof parsed === 'number' ? parsed : Number.MAX_SAFE_INTEGER,
  );
  // Ids are judged against, and formatted in, the epoch the read happened in.
  const { epoch, head } = read;
  assertEpoch(epoch);
  const position =
    typeof parsed === 'object' || (typeof parsed === 'number' && (epoch !== hint || parsed > head))
      ? 'unknown-id'
      : parsed;
  if (position === 'fresh') {
    const text = encodeStreamOpen({ id: formatId(epoch, head) });
    const lastIds = idsOf(epoch, channels, read.lastSeq);
    return { text, coveredUpTo: head, lastIds, replayed: 0, reset: undefined };
  }
  return replayPlan(read, channels, position, keep, tagged);
}

/**
 * The plan for a resume from `position` given what was read after it: stream-open with the
 * count, the events (each id saying what the client then has), any reset at the head.
 */
function replayPlan(
  read: {
    epoch: string;
    head: number;
    records: readonly StoredRecord[];
    gaps: readonly string[];
    lastSeq: Readonly<Record<string, number>>;
  },
  channels: readonly string[],
  position: Exclude<Position, 'fresh'>,
  keep: Keep | undefined,
  tagged: boolean,
): ResumePlan {
  const { epoch, head } = read;
  const lastIds = idsOf(epoch, channels, read.lastSeq);
  // A resumed stream's stream-open keeps the client's id and says how many replayed events
  // follow, so a client can tell replayed events from live ones.
  const usable = typeof position === 'number' || typeof position === 'object';
  const idOf = usable ? replayIds(epoch, channels, position) : undefined;
  const texts: string[] = [];
  if (idOf !== undefined)
    for (const record of read.records) {
      const text = withId(idOf(record.seq), record.body);
      if (keep === undefined || keep(record.channel, text))
        texts.push(tagged ? encodeChannelField(record.channel) + text : text);
    }
  const records = texts;
  let text = encodeStreamOpen({ replayed: records.length }) + texts.join('');
  let reset: ResumePlan['reset'];
  if (!usable) reset = { channels: [...channels], reason: position };
  else if (read.gaps.length > 0)
    reset = { channels: channels.filter((c) => read.gaps.includes(c)), reason: 'expired' };
  if (reset !== undefined) text += resetText(epoch, head, reset.channels, reset.reason);
  return { text, coveredUpTo: head, lastIds, replayed: records.length, reset };
}

/** A subscriber filter over stored events: the channel and the event's SSE text (with its id). */
export type Keep = (channel: string, text: string) => boolean;

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
    /** Only the stored events it keeps are replayed (a subscriber filter). */
    keep?: Keep | undefined;
    /** Each event carries its channel (`?channelField=1`). */
    tagged?: boolean | undefined;
  },
): Promise<ResumeStream> {
  const { preamble, pageBytes, onReset, keep } = options;
  const tagged = options.tagged === true;
  const hint = await store.epoch();
  const parsed = parseSeq(lastEventId, hint);
  if (parsed === 'malformed-id' && lastEventId?.includes(':') === true) {
    // A composite id (a multi-channel stream that was behind a proxy): one read per channel
    // position, not paged; it holds what the proxy had not delivered yet, usually little.
    const plan = await planResume(store, channels, lastEventId, keep, tagged);
    if (plan.reset !== undefined) onReset(plan.reset.channels, plan.reset.reason);
    return { coveredUpTo: plan.coveredUpTo, replayed: plan.replayed, pieces: once(preamble + plan.text) };
  }
  const first = await readAfterShared(
    store,
    channels,
    typeof parsed === 'number' ? parsed : Number.MAX_SAFE_INTEGER,
    FIRST_PAGE,
  );
  const { epoch, head } = first;
  assertEpoch(epoch);
  // The position is judged against the epoch the read happened in.
  const position = typeof parsed === 'number' && (epoch !== hint || parsed > head) ? 'unknown-id' : parsed;
  if (position === 'fresh') {
    const text = preamble + encodeStreamOpen({ id: formatId(epoch, head) });
    return { coveredUpTo: head, replayed: 0, pieces: once(text) };
  }
  if (typeof position !== 'number') {
    onReset(channels, position);
    const text = preamble + encodeStreamOpen({ replayed: 0 }) + resetText(epoch, head, channels, position);
    return { coveredUpTo: head, replayed: 0, pieces: once(text) };
  }
  const gaps = new Set(first.gaps);
  const complete = first.records.length < FIRST_PAGE;
  const resumeAt = first.records.at(-1)?.seq ?? position;
  const rest = channels.filter((c) => !gaps.has(c));
  // stream-open announces the count, so a replay longer than one page is counted first, page by
  // page, without keeping what is read.
  const kept = (record: StoredRecord): string | undefined => {
    const text = withId(formatId(epoch, record.seq), record.body);
    if (keep !== undefined && !keep(record.channel, text)) return undefined;
    return tagged ? encodeChannelField(record.channel) + text : text;
  };
  const countOf = (records: readonly StoredRecord[]): number =>
    keep === undefined ? records.length : records.filter((record) => kept(record) !== undefined).length;
  let replayed = countOf(first.records);
  if (!complete) {
    for await (const page of readPages(store, rest, resumeAt, epoch, head, pageBytes)) {
      replayed += countOf(page.records);
    }
  }
  async function* pieces(): AsyncGenerator<string, void, undefined> {
    let text = preamble + encodeStreamOpen({ replayed });
    for (const record of first.records) {
      text += kept(record) ?? '';
      if (text.length >= PIECE_CHARS) {
        yield text;
        text = '';
      }
    }
    if (!complete) {
      for await (const page of readPages(store, rest, resumeAt, epoch, head, pageBytes)) {
        // A channel whose next events expired while the replay was being written: the reset
        // at the end moves the client past them.
        for (const channel of page.gaps) gaps.add(channel);
        for (const record of page.records) {
          text += kept(record) ?? '';
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
  epoch: string,
  head: number,
  pageBytes: number,
): AsyncGenerator<{ records: readonly StoredRecord[]; gaps: readonly string[] }, void, undefined> {
  let active = [...channels];
  let after = afterSeq;
  let limit = FIRST_PAGE;
  while (active.length > 0 && after < head) {
    const read = await readAfterShared(store, active, after, limit);
    if (read.epoch !== epoch) throw new Error('the event history was reset during a replay');
    const gaps = read.gaps.filter((c) => active.includes(c));
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
