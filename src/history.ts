// Event ids and resuming: which stored events a (re)connecting client gets before live ones.
//
// Ids are `<epoch>-<seq>`: `seq` is one sequence per Events namespace, so a single
// Last-Event-ID locates a client in every channel it listens to; `epoch` names the store's
// lifetime, so an id from before a restart of an in-memory store is recognised as unknown
// instead of silently pointing at different events.
import { encodeFields } from './encoder.js';
import type { EventStore, StoredRecord } from './store/types.js';

const ID_FORMAT = /^([0-9a-z]{1,16})-(0|[1-9][0-9]{0,15})$/;

export function formatId(epoch: string, seq: number): string {
  return `${epoch}-${seq}`;
}

/** The SSE text of a stored event, as it was first delivered. */
export function recordText(epoch: string, record: StoredRecord): string {
  return `id: ${formatId(epoch, record.seq)}\n${record.body}`;
}

/** Why a client's position could not be honoured in full. */
export type ResetReason = 'expired' | 'unknown-id' | 'malformed-id';

export interface ResumePlan {
  /** The store's epoch (ids are `<epoch>-<seq>`). */
  epoch: string;
  /** Per channel, the seq of the newest event the client has once `text` is written. */
  lastSeq: Readonly<Record<string, number>>;
  /** SSE text to send after `stream-open` and before live events. */
  text: string;
  /** Live events with `seq` up to this are already covered by `text` (or by the client). */
  coveredUpTo: number;
  /** Replayed events (for counters and tests). */
  replayed: number;
  reset: { channels: string[]; reason: ResetReason } | undefined;
}

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
  const epoch = await store.epoch();
  // On a resumed stream, stream-open says how many replayed events follow it, so a client can
  // tell replayed events from live ones; a fresh stream's stream-open carries the position.
  const open = (id: string | undefined, replayed?: number) =>
    encodeFields({
      event: 'stream-open',
      id,
      data: replayed === undefined ? undefined : JSON.stringify({ replayed }),
    });
  const seq = parseSeq(lastEventId, epoch);
  if (typeof seq !== 'number') {
    // Fresh, or a position this history cannot place: start at "now".
    const now = await store.readAfter(channels, Number.MAX_SAFE_INTEGER);
    const base = { epoch, lastSeq: now.lastSeq, coveredUpTo: now.head, replayed: 0 };
    if (seq === 'fresh') return { ...base, text: open(formatId(epoch, now.head)), reset: undefined };
    return {
      ...base,
      text: open(undefined, 0) + resetText(epoch, now.head, channels, seq),
      reset: { channels: [...channels], reason: seq },
    };
  }
  const { records, gaps, head, lastSeq } = await store.readAfter(channels, seq);
  if (seq > head) {
    return {
      epoch,
      lastSeq,
      coveredUpTo: head,
      replayed: 0,
      text: open(undefined, 0) + resetText(epoch, head, channels, 'unknown-id'),
      reset: { channels: [...channels], reason: 'unknown-id' },
    };
  }
  let text = open(undefined, records.length);
  for (const record of records) text += recordText(epoch, record);
  let reset: ResumePlan['reset'];
  if (gaps.length > 0) {
    reset = { channels: [...gaps], reason: 'expired' };
    text += resetText(epoch, head, reset.channels, reset.reason);
  }
  return { epoch, lastSeq, text, coveredUpTo: head, replayed: records.length, reset };
}

/** The seq an id points at in this epoch, 'fresh' for none, or why it cannot be used. */
export function parseSeq(
  id: string | undefined,
  epoch: string,
): number | 'fresh' | 'malformed-id' | 'unknown-id' {
  if (id === undefined || id === '') return 'fresh';
  const match = ID_FORMAT.exec(id);
  const seq = match ? Number(match[2]) : Number.NaN;
  if (!match || !Number.isSafeInteger(seq)) return 'malformed-id';
  return match[1] === epoch ? seq : 'unknown-id';
}

export interface RecoveryPlan {
  text: string;
  /** Per channel, the id of the newest event the proxy session has once `text` is delivered. */
  lastIds: Record<string, string>;
}

/**
 * GRIP reliable mode: the proxy asks for what follows each channel's last id (`Grip-Last`).
 * Events of all channels come in seq order; a channel whose position is lost gets a
 * `stream-reset` and continues from "now".
 */
export async function planRecovery(
  store: EventStore,
  channels: readonly string[],
  lastIds: Readonly<Record<string, string>>,
): Promise<RecoveryPlan> {
  const epoch = await store.epoch();
  const now = await store.readAfter(channels, Number.MAX_SAFE_INTEGER);
  const records: StoredRecord[] = [];
  const lost: string[] = [];
  const lastSeq: Record<string, number> = {};
  for (const channel of channels) {
    const seq = parseSeq(lastIds[channel], epoch);
    if (typeof seq !== 'number' || seq > now.head) {
      lost.push(channel);
      lastSeq[channel] = now.lastSeq[channel] ?? 0;
      continue;
    }
    const read = await store.readAfter([channel], seq);
    if (read.gaps.length > 0) {
      lost.push(channel);
      lastSeq[channel] = read.lastSeq[channel] ?? 0;
      continue;
    }
    records.push(...read.records);
    lastSeq[channel] = read.records.at(-1)?.seq ?? seq;
  }
  records.sort((a, b) => a.seq - b.seq);
  let text = '';
  for (const record of records) text += recordText(epoch, record);
  if (lost.length > 0) text += resetText(epoch, now.head, lost, 'expired');
  const lastIds2: Record<string, string> = {};
  for (const channel of channels) lastIds2[channel] = formatId(epoch, lastSeq[channel] ?? 0);
  return { text, lastIds: lastIds2 };
}

/** `stream-reset`: data `{"channels":[…],"reason":…}`, id at the current head. */
function resetText(epoch: string, head: number, channels: readonly string[], reason: ResetReason): string {
  return encodeFields({
    event: 'stream-reset',
    id: formatId(epoch, head),
    data: JSON.stringify({ channels, reason }),
  });
}
