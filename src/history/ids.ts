// Event ids are `<epoch>-<seq>`: `seq` is one sequence per Events namespace, so a single
// Last-Event-ID locates a client in every channel it listens to; `epoch` names the store's
// lifetime, so an id from before a restart of an in-memory store is recognised as unknown
// instead of silently pointing at different events. Behind a GRIP proxy, which delivers per
// channel, a multi-channel stream's id is a composite of these, one per channel (cursor.ts).
import { MAX_EVENT_ID_LENGTH } from '../base/encoder.js';

const ID_FORMAT = /^([0-9a-z]{1,16})-(0|[1-9][0-9]{0,15})$/;
const EPOCH_FORMAT = /^[0-9a-z]{1,16}$/;

/**
 * Throws unless `epoch` follows the id grammar (1-16 of 0-9 a-z). Epochs come from the store and
 * go into every `id:` line: anything else could inject SSE fields into every stream.
 */
export function assertEpoch(epoch: unknown): asserts epoch is string {
  if (typeof epoch !== 'string' || !EPOCH_FORMAT.test(epoch)) {
    throw new Error(
      `the event store returned an invalid epoch ${JSON.stringify(String(epoch)).slice(0, 40)} (ids need 1-16 of 0-9 a-z)`,
    );
  }
}

export function formatId(epoch: string, seq: number): string {
  return `${epoch}-${seq}`;
}

/** The seq an id points at in this epoch, 'fresh' for none, or why it cannot be used. */
export function parseSeq(
  id: string | undefined,
  epoch: string,
): number | 'fresh' | 'malformed-id' | 'unknown-id' {
  if (id === undefined || id === '') return 'fresh';
  // Past the shared cap an id is malformed whatever it holds (a plain id is at most 33 characters).
  if (id.length > MAX_EVENT_ID_LENGTH) return 'malformed-id';
  const match = ID_FORMAT.exec(id);
  const seq = match ? Number(match[2]) : Number.NaN;
  if (!match || !Number.isSafeInteger(seq)) return 'malformed-id';
  return match[1] === epoch ? seq : 'unknown-id';
}

/** Per channel, the id of its event at `seqs[channel]` (0: none yet). */
export function idsOf(
  epoch: string,
  channels: readonly string[],
  seqs: Readonly<Record<string, number>>,
): Record<string, string> {
  const ids: Record<string, string> = {};
  for (const channel of channels) ids[channel] = formatId(epoch, seqs[channel] ?? 0);
  return ids;
}

export type { ResetReason } from '../base/types.js';
