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

/** What `events.presence(channel)` resolves to. */
export interface PresenceSnapshot {
  channel: string;
  /** Distinct members. */
  count: number;
  /** Open streams of those members. */
  connections: number;
  members: PresenceEntry[];
}

/** A stored entry: one stream of one member. */
export interface StoredMember {
  id: string;
  info: JsonValue | undefined;
}

export function encodeMember(member: StoredMember): string {
  return JSON.stringify(member.info === undefined ? { m: member.id } : { m: member.id, i: member.info });
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
  const { m, i } = value as { m?: unknown; i?: unknown };
  if (!isMemberId(m)) return undefined;
  if (i !== undefined && !isInfo(i)) return undefined;
  return { id: m, info: i as JsonValue | undefined };
}

export function isMemberId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_MEMBER_ID_LENGTH && !/\p{Cc}/u.test(id);
}

export function isInfo(info: unknown): boolean {
  try {
    const text = JSON.stringify(info);
    return text !== undefined && Buffer.byteLength(text) <= MAX_MEMBER_INFO_BYTES;
  } catch {
    return false;
  }
}

/** Entries of a channel's scope grouped by member id, foreign values left out. */
export function snapshotOf(
  channel: string,
  entries: ReadonlyArray<readonly [string, string]>,
): PresenceSnapshot {
  const members = new Map<string, PresenceEntry>();
  let connections = 0;
  for (const [, text] of entries) {
    const member = decodeMember(text);
    if (member === undefined) continue;
    connections++;
    const known = members.get(member.id);
    if (known === undefined) members.set(member.id, { id: member.id, info: member.info, connections: 1 });
    else known.connections++;
  }
  return { channel, count: members.size, connections, members: [...members.values()] };
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
