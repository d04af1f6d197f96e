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
  const open = (id: string | undefined) => encodeFields({ event: 'stream-open', id });
  if (lastEventId === undefined || lastEventId === '') {
    const head = await store.head();
    return { text: open(formatId(epoch, head)), coveredUpTo: head, replayed: 0, reset: undefined };
  }
  const match = ID_FORMAT.exec(lastEventId);
  const seq = match ? Number(match[2]) : Number.NaN;
  if (!match || !Number.isSafeInteger(seq)) {
    return resetAll(store, epoch, open(undefined), channels, 'malformed-id');
  }
  if (match[1] !== epoch) return resetAll(store, epoch, open(undefined), channels, 'unknown-id');
  const { records, gaps, head } = await store.readAfter(channels, seq);
  if (seq > head) return resetAll(store, epoch, open(undefined), channels, 'unknown-id', head);
  let text = open(undefined);
  for (const record of records) text += recordText(epoch, record);
  let reset: ResumePlan['reset'];
  if (gaps.length > 0) {
    reset = { channels: [...gaps], reason: 'expired' };
    text += resetText(epoch, head, reset.channels, reset.reason);
  }
  return { text, coveredUpTo: head, replayed: records.length, reset };
}

async function resetAll(
  store: EventStore,
  epoch: string,
  prefix: string,
  channels: readonly string[],
  reason: ResetReason,
  knownHead?: number,
): Promise<ResumePlan> {
  const head = knownHead ?? (await store.head());
  return {
    text: prefix + resetText(epoch, head, channels, reason),
    coveredUpTo: head,
    replayed: 0,
    reset: { channels: [...channels], reason },
  };
}

/** `stream-reset`: data `{"channels":[…],"reason":…}`, id at the current head. */
function resetText(epoch: string, head: number, channels: readonly string[], reason: ResetReason): string {
  return encodeFields({
    event: 'stream-reset',
    id: formatId(epoch, head),
    data: JSON.stringify({ channels, reason }),
  });
}
