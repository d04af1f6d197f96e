// GRIP reliable mode: what follows each channel's last id (`Grip-Last`), for the proxy's recovery fetch.
import { idsOf, parseSeq, type ResetReason, recordText } from './ids.js';
import { resetText } from './resume.js';
import type { EventStore, StoredRecord } from './store.js';

export interface RecoveryPlan {
  text: string;
  /** Per channel, the id of the newest event the proxy session has once `text` is delivered. */
  lastIds: Record<string, string>;
}

/**
 * GRIP reliable mode: the proxy asks for what follows each channel's last id (`Grip-Last`).
 * Events of all channels come in seq order; a channel whose position is lost gets a
 * `stream-reset` (one per reason) and continues from "now".
 */
export async function planRecovery(
  store: EventStore,
  channels: readonly string[],
  positions: Readonly<Record<string, string>>,
): Promise<RecoveryPlan> {
  const epoch = await store.epoch();
  const records: StoredRecord[] = [];
  const lost = new Map<ResetReason, string[]>();
  const lastSeq: Record<string, number> = {};
  // Reads happen one after another: the resets' id must not be older than any replayed event.
  let head = 0;
  for (const channel of channels) {
    const parsed = parseSeq(positions[channel], epoch);
    const read = await store.readAfter(
      [channel],
      typeof parsed === 'number' ? parsed : Number.MAX_SAFE_INTEGER,
    );
    head = Math.max(head, read.head);
    const reason: ResetReason | undefined =
      typeof parsed !== 'number' || parsed > read.head
        ? parsed === 'malformed-id'
          ? 'malformed-id'
          : 'unknown-id'
        : read.gaps.length > 0
          ? 'expired'
          : undefined;
    if (reason !== undefined) {
      lost.set(reason, [...(lost.get(reason) ?? []), channel]);
      lastSeq[channel] = read.lastSeq[channel] ?? 0;
      continue;
    }
    records.push(...read.records);
    lastSeq[channel] = read.records.at(-1)?.seq ?? (parsed as number);
  }
  records.sort((a, b) => a.seq - b.seq);
  let text = '';
  for (const record of records) text += recordText(epoch, record);
  for (const [reason, names] of lost) text += resetText(epoch, head, names, reason);
  return { text, lastIds: idsOf(epoch, channels, lastSeq) };
}
