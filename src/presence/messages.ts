// The presence control messages between processes, and the notices streams get. Per stream, not
// per member: every process counts a member's streams in its own view, so a join is a member's
// first stream there and a leave its last, whatever order the processes' messages arrive in.
//   {k:'open', c, s, p, m, i?}  stream `s` of member `m` (info `i`) opened on channel `c` in process `p`
//   {k:'close', c, s, p}        it closed
//   {k:'beat', p}               process `p` is alive (its streams' lease)
//   {k:'bye', p}                process `p` closed: its streams are gone
import { encodeFields } from '../base/encoder.js';
import type { EncodedEvent } from '../base/types.js';
import type { JsonValue } from '../engine/control.js';
import { isInfo, isMemberId, isName, isOwner } from './members.js';

export const PRESENCE_TOPIC = 'presence';

export type PresenceMessage =
  | { k: 'open'; c: string; s: string; p: string; m: string; i?: JsonValue }
  | { k: 'close'; c: string; s: string; p: string }
  | { k: 'beat'; p: string }
  | { k: 'bye'; p: string };

const MAX_KEY_LENGTH = 512;
const MAX_CHANNEL_LENGTH = 1024;

/** A received message, checked (another process, or anyone who can write to the channel). */
export function parseMessage(payload: unknown): PresenceMessage | undefined {
  if (payload === null || typeof payload !== 'object') return undefined;
  const { k, c, s, p, m, i } = payload as Record<string, unknown>;
  if (!isOwner(p)) return undefined;
  if (k === 'beat' || k === 'bye') return { k, p };
  if (!isName(c, MAX_CHANNEL_LENGTH) || !isName(s, MAX_KEY_LENGTH)) return undefined;
  if (k === 'close') return { k, c, s, p };
  if (k !== 'open' || !isMemberId(m) || (i !== undefined && !isInfo(i))) return undefined;
  return i === undefined ? { k, c, s, p, m } : { k, c, s, p, m, i: i as JsonValue };
}

/** `presence-join` / `presence-leave` as the streams that asked get it: no id, not stored. */
export function noticeOf(
  channel: string,
  kind: 'join' | 'leave',
  member: string,
  info?: JsonValue,
): EncodedEvent {
  const data = JSON.stringify(info === undefined ? { id: member } : { id: member, info });
  const event = `presence-${kind}`;
  const text = encodeFields({ event, data });
  return { channel, id: undefined, event, text, bytes: Buffer.from(text) };
}
