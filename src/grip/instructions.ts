import { channelNameProblem } from '../base/channel-name.js';
import { InvalidChannelError } from '../base/errors.js';
import { BUILD_ID } from './build-id.js';
import { gripChannelName } from './channel.js';

/**
 * Encodes keep-alive bytes for `Grip-Keep-Alive`. cstring (`\\`, `\r`, `\n` escaped) when every
 * other character survives Pushpin's header-parameter parsing as-is; base64 otherwise: for `;`
 * and `,` (parameter/value separators), `=` and `"` (which would make the value a parameter or a
 * quoted string), leading/trailing blanks (trimmed), and anything outside printable ASCII.
 */
export function encodeKeepAlive(text: string): { value: string; format: 'cstring' | 'base64' } {
  const escaped = text.replace(/\\/g, '\\\\').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
  const plain = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(escaped) && !/[;,="]/.test(escaped);
  if (plain) return { value: escaped, format: 'cstring' };
  return { value: Buffer.from(text, 'utf8').toString('base64'), format: 'base64' };
}

/** Keep-alive interval in whole seconds for Pushpin: rounded up, at least 1. */
export function keepAliveSeconds(intervalMs: number): number {
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) return 1;
  return Math.max(1, Math.ceil(intervalMs / 1000));
}

/**
 * Response headers that make the proxy hold the stream open on `prefix + channel` (in its wire
 * form, `gripChannelName`) for each channel,
 * and send the same keep-alive bytes direct clients get after the same silence (Pushpin's default
 * `mode=idle` restarts the timer after each published item, like the direct keep-alive does).
 */
export function holdHeaders(input: {
  channels: readonly string[];
  prefix: string;
  keepAlive: { text: string; intervalMs: number } | undefined;
  /** Reliable mode: each channel's last delivered id (`prev-id`), set only together with `link`. */
  prevIds?: Readonly<Record<string, string>>;
  /** Reliable mode: where the proxy fetches missed events (`Grip-Link … rel=next`). */
  link?: { uri: string; timeoutSec: number };
  /** Reliable mode: the build-id filter on every channel, filling in this `id_format`. */
  idFormat?: string;
  /** Private channels in their wire form (held-streams.ts): no prev-id, no filter. */
  privateChannels?: readonly string[];
}): Record<string, string> {
  // A prev-id without a next link would stall the stream on the first gap: both or neither.
  const prevIds = input.link === undefined ? undefined : input.prevIds;
  for (const channel of input.channels) {
    // The same rules as every channel name, any length: only validated names have a wire form.
    const name = `${input.prefix}${channel}`;
    if (channelNameProblem(name, Number.POSITIVE_INFINITY) !== undefined) {
      throw new InvalidChannelError(name, `GRIP channel ${JSON.stringify(name)} is not a valid channel name`);
    }
  }
  const names = input.channels.map((c) => gripChannelName(input.prefix, c));
  // The filter reads every channel's prev-id: only with them (and so with a link).
  const idFormat = prevIds === undefined ? undefined : input.idFormat;
  const filter = idFormat === undefined ? '' : `; filter=${BUILD_ID}`;
  const headers: Record<string, string> = {
    'Grip-Hold': 'stream',
    'Grip-Channel': names
      .map((name, i) => {
        const prev = prevIds?.[input.channels[i]!];
        return `${prev === undefined ? name : `${name}; prev-id=${prev}`}${filter}`;
      })
      .concat(input.privateChannels ?? [])
      .join(', '),
  };
  if (idFormat !== undefined) headers['Grip-Set-Meta'] = `id_format="${idFormat}"`;
  if (input.link !== undefined) {
    headers['Grip-Link'] =
      `<${input.link.uri}>; rel=next; timeout=${Math.max(1, Math.round(input.link.timeoutSec))}`;
  }
  const ka = input.keepAlive;
  if (ka !== undefined && ka.text.length > 0) {
    const { value, format } = encodeKeepAlive(ka.text);
    headers['Grip-Keep-Alive'] = `${value}; format=${format}; timeout=${keepAliveSeconds(ka.intervalMs)}`;
  }
  return headers;
}
