// What a handler adds to a stream besides its channels (a filter, who the subscriber is), and
// how features above the core (presence) follow streams opening and closing.
import type { StreamIdentity } from '../base/types.js';
import type { JsonValue } from '../engine/control.js';
import type { Connection } from './connection.js';
import type { EventFilter } from './filter.js';

/** Who the subscriber is, for presence (the handler's `presence` hook). */
export interface StreamMember {
  id?: string | undefined;
  info?: JsonValue | undefined;
  /** Whether the stream receives the namespace's notices (`presence-join`, `presence-leave`). */
  events?: boolean | undefined;
}

/** What a handler adds to a stream besides its channels. */
export interface StreamExtras {
  filter?: EventFilter | undefined;
  member?: StreamMember | undefined;
  /** The verified subscriber (`authorize: tokens(...)`): expiry and revocation follow it. */
  identity?: StreamIdentity | undefined;
  /** `?channelField=1`: each event of a channel carries a `channel:` field (core/channel-tag.ts). */
  tagged?: boolean | undefined;
}

/** A stream as features above the core (presence) see it. */
export interface WatchedStream {
  /** Unique among the streams of every process. */
  readonly key: string;
  readonly channels: readonly string[];
  readonly member: StreamMember | undefined;
}

/** Told when streams open (after `connect`) and close. */
export interface SubscriberWatch {
  opened(stream: WatchedStream): void;
  closed(stream: WatchedStream): void;
}

/** Told of every stream opened and released (expiry and revocation track them by identity). */
export interface ConnectionWatcher {
  opened(conn: Connection): void;
  released(conn: Connection): void;
}

/** `identity` in a message or listener argument only when there is one. */
export function withIdentity(identity: StreamIdentity | undefined): { identity?: StreamIdentity } {
  return identity === undefined ? {} : { identity };
}
