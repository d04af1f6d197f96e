// GRIP reliable mode: what follows each channel's last id (`Grip-Last`), for the proxy's recovery fetch.
import { encodeStreamReset, withId } from '../base/encoder.js';
import type { EventStore } from '../engine/store.js';
import { compositeId, readPerChannel, replayIds, sortedChannels } from './cursor.js';
import { idsOf, parseSeq, type ResetReason } from './ids.js';

export interface RecoveryPlan {
  text: string;
  /** Per channel, the id of the newest event the proxy session has once `text` is delivered. */
  lastIds: Record<string, string>;
}

/**
 * GRIP reliable mode: the proxy asks for what follows each channel's last id (`Grip-Last`).
 * Each channel is read after its own id (readPerChannel), so all are complete up to one head; a
 * channel whose position is lost gets a `stream-reset` (one per reason), first, and continues
 * from there. The events follow in seq order, each id saying what the client has on each of its
 * channels (Pushpin delivered them apart): a composite id on several channels.
 */
export async function planRecovery(
  store: EventStore,
  channels: readonly string[],
  positions: Readonly<Record<string, string>>,
): Promise<RecoveryPlan> {
  const hint = await store.epoch();
  const seqs: Record<string, number> = {};
  const lost = new Map<ResetReason, string[]>();
  const lose = (channel: string, reason: ResetReason) =>
    lost.set(reason, [...(lost.get(reason) ?? []), channel]);
  for (const channel of channels) {
    const parsed = parseSeq(positions[channel], hint);
    // A lost channel is read from the end: only its newest event (the next prev-id) is needed.
    seqs[channel] = typeof parsed === 'number' ? parsed : Number.MAX_SAFE_INTEGER;
    if (typeof parsed !== 'number') lose(channel, parsed === 'malformed-id' ? 'malformed-id' : 'unknown-id');
  }
  const read = await readPerChannel(store, seqs);
  if (read === undefined || read.epoch !== hint) {
    // The history was reset under the reads: every position is unknown now.
    return planRecovery(store, channels, {});
  }
  const { epoch, head } = read;
  const isLost = (channel: string) => [...lost.values()].some((names) => names.includes(channel));
  for (const channel of channels) {
    if (!isLost(channel) && seqs[channel]! > head) lose(channel, 'unknown-id');
  }
  for (const channel of read.gaps) if (!isLost(channel)) lose(channel, 'expired');
  // The resets come first; after the last one each lost channel is at the head, the others
  // where they were, and the events' ids say so.
  const position: Record<string, number> = {};
  for (const channel of channels) position[channel] = isLost(channel) ? head : seqs[channel]!;
  const resets = [...lost];
  let text = '';
  for (const [i, [reason, names]] of resets.entries()) {
    const id = i === resets.length - 1 ? compositeId(epoch, sortedChannels(channels), position) : undefined;
    text += encodeStreamReset(id, names, reason);
  }
  const idOf = replayIds(epoch, channels, { seqs: position });
  const lastSeq: Record<string, number> = { ...read.lastSeq };
  for (const record of read.records) {
    if (isLost(record.channel)) continue;
    text += withId(idOf(record.seq), record.body);
  }
  return { text, lastIds: idsOf(epoch, channels, lastSeq) };
}
