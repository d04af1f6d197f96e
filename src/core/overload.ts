// What happens to a subscriber that cannot keep up, per channel: `disconnect` (it reconnects and
// resumes from the history), `drop-oldest` (it stays, losing the oldest events it had not taken,
// and is told how many), or `conflate` (it stays and gets the latest value of each key).

import { InvalidOptionError } from '../base/errors.js';
import { assertKnownKeys } from '../base/option-checks.js';
import type { EncodedEvent } from '../base/types.js';
import { type EventView, viewOf } from './event-view.js';

/** What a slow subscriber of a channel gets once its backlog is full. */
export type OverloadPolicy =
  | 'disconnect'
  | 'drop-oldest'
  | {
      /**
       * The key of an event: a slow subscriber receives only the latest event of each key (in
       * order of last change). Undefined (or a throw): the event has no key and is kept as under
       * `drop-oldest`.
       */
      conflate: (event: EventView) => string | undefined;
    };

/**
 * `events({ overload })`: one policy for every channel, or a default with per-channel overrides
 * (`channels` keys are names, or prefixes ending in `*`: `'ticker-*'`).
 */
export type OverloadOption =
  | OverloadPolicy
  | { default?: OverloadPolicy; channels?: Readonly<Record<string, OverloadPolicy>> };

/** How a connection that fell behind keeps events: undefined for `disconnect`. */
export interface ConnectionOverload {
  /** The conflation key of `ev` (channel-qualified); undefined: kept as one more event. */
  keyOf(ev: EncodedEvent): string | undefined;
}

/** The resolved option: a connection's overload handling from its channels. */
export type OverloadResolver = (channels: readonly string[]) => ConnectionOverload | undefined;

type Conflate = (event: EventView) => string | undefined;

function checkPolicy(name: string, policy: unknown): OverloadPolicy {
  if (policy === 'disconnect' || policy === 'drop-oldest') return policy;
  if (policy !== null && typeof policy === 'object') {
    assertKnownKeys(policy, ['conflate'], `${name}.`);
    if (typeof (policy as { conflate?: unknown }).conflate === 'function') return policy as OverloadPolicy;
  }
  throw new InvalidOptionError(
    name,
    `${name} must be 'disconnect', 'drop-oldest' or { conflate: (event) => key }`,
  );
}

export function resolveOverload(option: unknown): OverloadResolver {
  if (option === undefined) return () => undefined;
  let fallback: OverloadPolicy = 'disconnect';
  const exact = new Map<string, OverloadPolicy>();
  const prefixes: Array<[string, OverloadPolicy]> = [];
  if (option !== null && typeof option === 'object' && !('conflate' in option)) {
    assertKnownKeys(option, ['default', 'channels'], 'overload.');
    const { default: given, channels } = option as { default?: unknown; channels?: unknown };
    if (given !== undefined) fallback = checkPolicy('overload.default', given);
    if (channels !== undefined) {
      if (channels === null || typeof channels !== 'object')
        throw new InvalidOptionError('overload.channels', 'overload.channels must be an object of policies');
      for (const [name, policy] of Object.entries(channels)) {
        const checked = checkPolicy(`overload.channels.${name}`, policy);
        if (name.endsWith('*')) prefixes.push([name.slice(0, -1), checked]);
        else exact.set(name, checked);
      }
      // The longest matching prefix wins.
      prefixes.sort((a, b) => b[0].length - a[0].length);
    }
  } else fallback = checkPolicy('overload', option);
  const policyOf = (channel: string): OverloadPolicy =>
    exact.get(channel) ?? prefixes.find(([prefix]) => channel.startsWith(prefix))?.[1] ?? fallback;
  return (channels) => {
    const keys = new Map<string, Conflate>();
    for (const channel of channels) {
      const policy = policyOf(channel);
      // A connection is cut off if any of its channels asks for it: nothing of it may be lost.
      if (policy === 'disconnect') return undefined;
      if (policy !== 'drop-oldest') keys.set(channel, policy.conflate);
    }
    if (keys.size === 0) return { keyOf: () => undefined };
    return {
      keyOf(ev) {
        const conflate = keys.get(ev.channel);
        if (conflate === undefined || ev.event === 'stream-reset') return undefined;
        let key: string | undefined;
        try {
          key = conflate(viewOf(ev.channel, ev.text));
        } catch {
          return undefined;
        }
        return typeof key === 'string' ? `${ev.channel}\n${key}` : undefined;
      },
    };
  };
}
