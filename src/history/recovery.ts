// GRIP reliable mode: what follows each channel's last id (`Grip-Last`), for the proxy's recovery fetch.
import { encodeStreamReset, withId } from '../core/encoder.js';
import { compositeId, lacks, readStart, realGaps, replayIds, sortedChannels } from './cursor.js';
import { assertEpoch, idsOf, parseSeq, type ResetReason } from './ids.js';
import type { EventStore } from './store.js';

export interface RecoveryPlan {
  text: string;
  /** Per channel, the id of the newest event the proxy session has once `text` is delivered. */
  lastIds: Record<string, string>;
}

/**
 * GRIP reliable mode: the proxy asks for what follows each channel's last id (`Grip-Last`).
 * One read from the earliest of them, so every channel is complete up to one head; a channel
 * whose position is lost gets a `stream-reset` (one per reason), first, and continues from there.
 * The events follow in seq order. Every id says what the client has on each of its channels
 * (Pushpin delivered per channel, so the positions differ): a composite id on several channels.
 */
export async function planRecovery(
  store: EventStore,
  channels: readonly string[],
  positions: Readonly<Record<string, string>>,
): Promise<RecoveryPlan> {
  const hint = await store.epoch();
  const seqs: Record<string, number> = {};
  const lost = new Map<ResetReason, string[]>();
  const lose = (channel: string, reason: ResetReason) => {
    delete seqs[channel];
    lost.set(reason, [...(lost.get(reason) ?? []), channel]);
  };
  for (const channel of channels) {
    const parsed = parseSeq(positions[channel], hint);
    if (typeof parsed === 'number') seqs[channel] = parsed;
    else lose(channel, parsed === 'malformed-id' ? 'malformed-id' : 'unknown-id');
  }
  const start = Object.keys(seqs).length > 0 ? readStart({ seqs }) : Number.MAX_SAFE_INTEGER;
  const read = await store.readAfter(channels, start);
  const { epoch, head } = read;
  assertEpoch(epoch);
  for (const channel of Object.keys(seqs)) {
    if (epoch !== hint || seqs[channel]! > head) lose(channel, 'unknown-id');
  }
  const gaps = read.gaps.filter((c) => c in seqs);
  for (const channel of await realGaps(store, { seqs: { ...seqs } }, gaps, start)) lose(channel, 'expired');
  // The resets come first; after the last one each lost channel is at the head, the others
  // where they were, and the events' ids say so.
  const position: Record<string, number> = { ...seqs };
  for (const names of lost.values()) for (const name of names) position[name] = head;
  const resets = [...lost];
  let text = '';
  for (const [i, [reason, names]] of resets.entries()) {
    const id = i === resets.length - 1 ? compositeId(epoch, sortedChannels(channels), position) : undefined;
    text += encodeStreamReset(id, names, reason);
  }
  const idOf = replayIds(epoch, channels, { seqs: position });
  const lastSeq: Record<string, number> = {};
  for (const channel of channels) lastSeq[channel] = seqs[channel] ?? read.lastSeq[channel] ?? 0;
  for (const record of read.records) {
    if (!(record.channel in seqs) || !lacks({ seqs }, record)) continue;
    text += withId(idOf(record.seq), record.body);
    lastSeq[record.channel] = record.seq;
  }
  return { text, lastIds: idsOf(epoch, channels, lastSeq) };
}
