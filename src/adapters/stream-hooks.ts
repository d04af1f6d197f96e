// The handler hooks run once a request is accepted, before its stream opens: `filter` (which
// events it receives) and `presence` (who the subscriber is). Their results are checked here, so
// a bad value fails that request with an error naming the hook, never a stream.

import type { StreamIdentity } from '../base/types.js';
import { checkFilter, type EventFilter } from '../core/filter.js';
import type { StreamExtras } from '../core/stream-extras.js';
import { checkMember, type PresenceMember } from '../presence/members.js';

type Maybe<T> = T | undefined | Promise<T | undefined>;

export interface StreamHooks<Req> {
  filter?:
    | ((
        request: Req,
        channels: readonly string[],
        identity: StreamIdentity | undefined,
      ) => Maybe<EventFilter>)
    | undefined;
  presence?:
    | ((
        request: Req,
        channels: readonly string[],
        identity: StreamIdentity | undefined,
      ) => Maybe<PresenceMember>)
    | undefined;
}

/** The extras of an accepted request's stream; undefined when the handler has neither hook. */
export async function streamExtras<Req>(
  hooks: StreamHooks<Req>,
  request: Req,
  channels: readonly string[],
  identity: StreamIdentity | undefined,
): Promise<StreamExtras | undefined> {
  if (hooks.filter === undefined && hooks.presence === undefined) return undefined;
  return {
    filter: hooks.filter && checkFilter(await hooks.filter(request, channels, identity)),
    member: hooks.presence && checkMember(await hooks.presence(request, channels, identity)),
  };
}
