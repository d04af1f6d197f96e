// Presence entries as they are kept in the engine's shared state, and read back: every value read
// is foreign data (another process, another version, a hand-edited Redis) and is checked before
// it reaches an app or the wire.
import { InvalidOptionError } from '../base/errors.js';
import type { JsonValue } from '../engine/control.js';

/** Longest member id. */
export const MAX_MEMBER_ID_LENGTH = 256;
/** Largest `info` of a member, as JSON text: join/leave notices carry it in a control message. */
export const MAX_MEMBER_INFO_BYTES = 2048;

/** Who a subscriber is on a presence channel, from the handler's `presence` hook. */
export interface PresenceMember {
  /** The member's id (a user id); default: the connection's id. Several streams may share one. */
  id?: string;
  /** App-defined data shown with the member (JSON, at most 2 KiB). */
  info?: JsonValue;
  /** Whether this stream receives `presence-join` / `presence-leave` events. Default false. */
  events?: boolean;
}

/** One member of a channel as `presence()` reports it. */
export interface PresenceEntry {
  id: string;
  /** The info given when the member's newest stream joined (undefined when none was given). */
  info: JsonValue | undefined;
  /** Its open streams on the channel, across processes. */
  connections: number;
}

/** What `events.presence(channel)` resolves to: frozen, the same object until the membership changes. */
export interface PresenceSnapshot {
  channel: string;
  /** Distinct members. */
  count: number;
  /** Open streams of those members. */
  connections: number;
  members: PresenceEntry[];
}

/** Longest process id (a stream's lease owner). */
const MAX_OWNER_LENGTH = 64;

/** A stored entry: one stream of one member, held by process `owner`. */
export interface StoredMember {
  id: string;
  info: JsonValue | undefined;
  owner: string;
}

export function encodeMember(member: StoredMember): string {
  const { id, info, owner } = member;
  return JSON.stringify(info === undefined ? { m: id, p: owner } : { m: id, i: info, p: owner });
}

/** A stored value back, or undefined when it is not one of ours. */
export function decodeMember(text: string): StoredMember | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const { m, i, p } = value as { m?: unknown; i?: unknown; p?: unknown };
  if (!isMemberId(m) || !isOwner(p)) return undefined;
  if (i !== undefined && !isInfo(i)) return undefined;
  return { id: m, info: i as JsonValue | undefined, owner: p };
}

/** A process id (stream keys, owners, channels in messages): printable and bounded. */
export function isName(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= max && !/\p{Cc}/u.test(value);
}

export function isOwner(value: unknown): value is string {
  return isName(value, MAX_OWNER_LENGTH);
}

export function isMemberId(id: unknown): id is string {
  return isName(id, MAX_MEMBER_ID_LENGTH);
}

export function isInfo(info: unknown): boolean {
  try {
    const text = JSON.stringify(info);
    return text !== undefined && Buffer.byteLength(text) <= MAX_MEMBER_INFO_BYTES;
  } catch {
    return false;
  }
}

/** The handler's `presence` hook result, checked: a bad value names the hook. */
export function checkMember(value: unknown): PresenceMember | undefined {
  if (value === undefined) return undefined;
  const bad = (why: string) => new InvalidOptionError('presence', `the presence hook returned ${why}`);
  if (value === null || typeof value !== 'object') throw bad('neither undefined nor { id?, info?, events? }');
  const { id, info, events } = value as PresenceMember;
  if (id !== undefined && !isMemberId(id))
    throw bad(`an id that is not 1 to ${MAX_MEMBER_ID_LENGTH} printable characters`);
  if (info !== undefined && !isInfo(info))
    throw bad(`an info that is not JSON of at most ${MAX_MEMBER_INFO_BYTES} bytes`);
  if (events !== undefined && typeof events !== 'boolean') throw bad('an events flag that is not a boolean');
  return { id, info, events };
}
