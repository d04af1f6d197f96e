// Reading what an HTTP request asks for. Pure functions of headers and URL; no side effects.
import { channelNameProblem } from './channel-name.js';
import type { HttpRequest } from './types.js';

/** How the request's `Accept` header relates to `text/event-stream`. */
export type AcceptVerdict =
  /** Lists `text/event-stream` (what EventSource sends): errors are answered as SSE. */
  | 'event-stream'
  /** Absent, or allows it through a wildcard (`*\/*`, `text/*`): errors are answered as plain text. */
  | 'allowed'
  /** Excludes it: 406. */
  | 'refused';

/** Classify an `Accept` header (RFC 9110 §12.5.1; the most specific matching range decides). */
export function classifyAccept(header: string | undefined): AcceptVerdict {
  if (header === undefined || header.trim() === '') return 'allowed';
  let exact: number | undefined;
  let type: number | undefined;
  let any: number | undefined;
  for (const part of header.split(',')) {
    const [rangeRaw = '', ...params] = part.split(';');
    const range = rangeRaw.trim().toLowerCase();
    let q = 1;
    for (const param of params) {
      const [name = '', value = ''] = param.split('=');
      if (name.trim().toLowerCase() === 'q') {
        const parsed = Number(value.trim());
        q = Number.isFinite(parsed) ? parsed : 0;
      }
    }
    if (range === 'text/event-stream') exact = Math.max(exact ?? 0, q);
    else if (range === 'text/*') type = Math.max(type ?? 0, q);
    else if (range === '*/*') any = Math.max(any ?? 0, q);
  }
  if (exact !== undefined) return exact > 0 ? 'event-stream' : 'refused';
  const fallback = type ?? any;
  return fallback !== undefined && fallback > 0 ? 'allowed' : 'refused';
}

/** The query string of a request URL, parsed; never throws. */
export function queryOf(req: HttpRequest): URLSearchParams {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
}

/** The `?channel=` values, in order (repeat the parameter for several; commas do not split). */
export function channelsFromQuery(req: HttpRequest): string[] {
  return queryOf(req).getAll('channel');
}

/** First value of a header that may arrive as an array (HTTP/2 compat). */
export function headerValue(req: HttpRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The id a reconnecting client last saw: `Last-Event-ID` header, else `?lastEventId=`. */
export function lastEventIdOf(req: HttpRequest): string | undefined {
  return headerValue(req, 'last-event-id') ?? queryOf(req).get('lastEventId') ?? undefined;
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
