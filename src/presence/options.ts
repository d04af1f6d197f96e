// `events({ presence })`: which channels track who is subscribed, and how soon a dead process's
// members expire.
import { InvalidOptionError } from '../base/errors.js';
import { assertKnownKeys, durationOption } from '../base/option-checks.js';

/** `true` for every channel, or the channels (names, or prefixes ending in `*`) and the expiry. */
export type PresenceOption =
  | boolean
  | {
      /** Names or `prefix-*` patterns; default every channel. */
      channels?: readonly string[];
      /**
       * How long a member stays listed after its process stopped refreshing it (a crash); each
       * process refreshes its members every third of it. Default 30 000 ms.
       */
      ttlMs?: number;
    };

export interface PresenceSettings {
  matches(channel: string): boolean;
  ttlMs: number;
}

export function resolvePresence(option: unknown): PresenceSettings | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) return { matches: () => true, ttlMs: 30_000 };
  if (option === null || typeof option !== 'object')
    throw new InvalidOptionError('presence', 'presence must be true or { channels?, ttlMs? }');
  assertKnownKeys(option, ['channels', 'ttlMs'], 'presence.');
  const { channels, ttlMs } = option as { channels?: unknown; ttlMs?: unknown };
  const ttl = durationOption('presence.ttlMs', ttlMs, 30_000, { min: 300, max: 86_400_000 });
  if (channels === undefined) return { matches: () => true, ttlMs: ttl };
  if (!Array.isArray(channels) || !channels.every((c) => typeof c === 'string' && c !== ''))
    throw new InvalidOptionError('presence.channels', 'presence.channels must be an array of channel names');
  const exact = new Set(channels.filter((c: string) => !c.endsWith('*')));
  const prefixes = channels.filter((c: string) => c.endsWith('*')).map((c: string) => c.slice(0, -1));
  return { matches: (c) => exact.has(c) || prefixes.some((p) => c.startsWith(p)), ttlMs: ttl };
}
