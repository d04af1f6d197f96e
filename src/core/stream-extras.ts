// What a handler adds to a stream besides its channels (a filter, who the subscriber is), and
// how features above the core (presence) follow streams opening and closing.
import type { JsonValue } from '../engine/control.js';
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
