// Which channels a request subscribes to: the repeated `?channel=` parameter, validated.
import { channelNameProblem } from '../base/channel-name.js';
import { queryOf, type RequestView } from './request-view.js';

/** The `?channel=` values, in order (repeat the parameter for several; commas do not split). */
export function channelsFromQuery(view: RequestView): string[] {
  return queryOf(view).getAll('channel');
}

export type ChannelCheck = { ok: true; channels: string[] } | { ok: false; text: string };

/** Validate and de-duplicate requested channels (order kept). */
export function checkChannels(requested: unknown, maxChannels: number, maxNameLength: number): ChannelCheck {
  if (!Array.isArray(requested)) return { ok: false, text: 'channels must be a list of channel names' };
  if (requested.length === 0) {
    return {
      ok: false,
      text: 'You must specify one or more channels to subscribe to, with one or more ?channel= query parameters',
    };
  }
  const channels: string[] = [];
  const seen = new Set<string>();
  for (const name of requested) {
    const problem = channelNameProblem(name, maxNameLength);
    if (problem !== undefined) {
      const hint =
        typeof name === 'string' && name.includes(',') ? ' (repeat the parameter: ?channel=a&channel=b)' : '';
      return {
        ok: false,
        text: `Invalid channel ${JSON.stringify(String(name).slice(0, 64))}: ${problem}${hint}`,
      };
    }
    if (seen.has(name)) continue;
    seen.add(name);
    channels.push(name);
  }
  if (channels.length > maxChannels) {
    return {
      ok: false,
      text: `Too many channels: ${channels.length} requested, at most ${maxChannels} allowed`,
    };
  }
  return { ok: true, channels };
}
