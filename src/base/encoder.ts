// Wire encoding of one event, per the WHATWG "event stream" rules. Everything that reaches a
// socket passes through here, so this is where injection is made impossible: a value that could
// end a line is either split into several `data:` lines or rejected, never written.
import { DataSerializationError, InvalidEventError } from './errors.js';

/** A field-ready event: `data` already turned into text. */
export interface WireEvent {
  event?: string | undefined;
  id?: string | undefined;
  retry?: number | undefined;
  /** Text to send as `data:` lines; undefined sends one empty `data:` line so the event still dispatches. */
  data?: string | undefined;
}

// CR and LF end a line anywhere in the stream (a lone CR too).
const LINE_BREAK = /[\r\n]/;
const NAME_FORBIDDEN = /[\r\n\0]/;
const ID_FORBIDDEN = /[\r\n\0]/;
// A high surrogate not followed by a low one, or a low one not preceded by a high one. UTF-8
// cannot encode it: it would silently reach clients as U+FFFD, so it is refused instead.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function assertWellFormed(field: string, text: string): void {
  if (LONE_SURROGATE.test(text)) {
    throw new InvalidEventError(field, `${field} must not contain a lone surrogate (it is not valid UTF-8)`);
  }
}
const DATA_LINES = /\r\n|\r|\n/;

export function assertEventName(name: unknown): asserts name is string | undefined {
  if (name === undefined) return;
  if (typeof name !== 'string')
    throw new InvalidEventError('event', `event name must be a string, got ${typeof name}`);
  if (name.length === 0)
    throw new InvalidEventError('event', 'event name must not be empty (omit it for "message")');
  if (NAME_FORBIDDEN.test(name))
    throw new InvalidEventError('event', 'event name must not contain CR, LF or NUL');
  assertWellFormed('event', name);
}

/**
 * Longest event id (UTF-16 code units) the server publishes and resumes from, and the browser
 * client stores and sends: ids travel back in a header or the query string, where a long one gets
 * a 431 or 414 from the server or a proxy, and EventSource would retry it forever. Room for the
 * composite ids of GRIP reliable mode (one id per channel, history/cursor.ts). The client
 * (`express-eventstream/client`) exports the same value.
 */
export const MAX_EVENT_ID_LENGTH = 2048;

export function assertEventId(id: unknown): asserts id is string | undefined {
  if (id === undefined) return;
  if (typeof id !== 'string') throw new InvalidEventError('id', `id must be a string, got ${typeof id}`);
  if (id.length > MAX_EVENT_ID_LENGTH) {
    throw new InvalidEventError(
      'id',
      `id is ${id.length} characters long; at most ${MAX_EVENT_ID_LENGTH} (clients send it back to resume)`,
    );
  }
  if (ID_FORBIDDEN.test(id)) throw new InvalidEventError('id', 'id must not contain CR, LF or NUL');
  assertWellFormed('id', id);
}

export function assertRetry(retry: unknown): asserts retry is number | undefined {
  if (retry === undefined) return;
  if (typeof retry !== 'number' || !Number.isSafeInteger(retry) || retry < 0) {
    throw new InvalidEventError('retry', `retry must be a non-negative integer (ms), got ${String(retry)}`);
  }
}

/**
 * Turn `data` into the text of its `data:` lines: JSON unless `raw`, in which case it must be a
 * string. `undefined` stays undefined (an empty data line).
 */
export function dataToText(data: unknown, raw: boolean): string | undefined {
  if (raw) {
    if (data === undefined) return undefined;
    if (typeof data !== 'string')
      throw new InvalidEventError('data', `raw data must be a string, got ${typeof data}`);
    assertWellFormed('data', data);
    return data;
  }
  if (data === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new DataSerializationError(`data cannot be JSON-encoded: ${reason}`, { cause });
  }
  if (json === undefined) {
    throw new DataSerializationError(`data of type ${typeof data} has no JSON form`);
  }
  // No surrogate check: JSON.stringify writes a lone surrogate as a \udxxx escape, which is
  // ASCII on the wire and gives the client's JSON.parse the very same string back.
  return json;
}

/** Encode an already validated event. Field order: event, id, retry, data. */
export function encodeFields(ev: WireEvent): string {
  let out = '';
  if (ev.event !== undefined) out += `event: ${ev.event}\n`;
  if (ev.id !== undefined) out += ev.id === '' ? 'id:\n' : `id: ${ev.id}\n`;
  if (ev.retry !== undefined) out += `retry: ${ev.retry}\n`;
  if (ev.data === undefined || ev.data === '') {
    out += 'data:\n';
  } else if (!LINE_BREAK.test(ev.data)) {
    out += `data: ${ev.data}\n`;
  } else {
    for (const line of ev.data.split(DATA_LINES)) out += line === '' ? 'data:\n' : `data: ${line}\n`;
  }
  return `${out}\n`;
}

/** Validate and encode one event; throws `InvalidEventError` / `DataSerializationError`. */
export function encodeEvent(ev: WireEvent): string {
  assertEventName(ev.event);
  assertEventId(ev.id);
  assertRetry(ev.retry);
  if (ev.data !== undefined && typeof ev.data !== 'string') {
    throw new InvalidEventError('data', 'data text must be a string');
  }
  if (ev.data !== undefined) assertWellFormed('data', ev.data);
  return encodeFields(ev);
}

/**
 * A comment line (ignored by clients). Line breaks inside are turned into separate comment
 * lines so a comment can never smuggle in a field.
 */
export function encodeComment(text: string): string {
  return `${text
    .split(DATA_LINES)
    .map((line) => `:${line}`)
    .join('\n')}\n\n`;
}

// --- Everything else that goes on the wire. No other module builds SSE text. ---

/** The `id:` line followed by an event's encoded body (everything but its id). */
export function withId(id: string | undefined, body: string): string {
  if (id === undefined) return body;
  return `${id === '' ? 'id:' : `id: ${id}`}\n${body}`;
}

/** `retry: N` on its own (no data, so nothing dispatches): sets the client's reconnection delay. */
function retryBlock(retry: number): string {
  return `retry: ${retry}\n\n`;
}

/**
 * The `channel:` field a stream opened with `?channelField=1` carries before each event of a
 * channel (a field name EventSource ignores). Channel names are checked where they enter (no
 * control characters); a line break here would inject fields, so it is refused again.
 */
export function encodeChannelField(channel: string): string {
  if (LINE_BREAK.test(channel)) throw new Error('a channel name with a line break cannot be written');
  return `channel: ${channel}\n`;
}

/** A lone `retry:` block as bytes' text (a drained stream's last write). */
export function encodeRetry(retry: number): string {
  return retryBlock(retry);
}

/**
 * What every stream starts with before `stream-open`: an optional 2 KiB comment (old proxies and
 * polyfills buffer small responses) and an optional `retry:`.
 */
export function encodePreamble(padding: boolean, retry: number | undefined): string {
  let text = '';
  if (padding) text += encodeComment(' '.repeat(2048));
  if (retry !== undefined) text += retryBlock(retry);
  return text;
}

/**
 * `stream-open`. A fresh stream carries the id marking "now" (so a client that receives nothing
 * can still resume); a resumed one keeps the client's id and says how many replayed events follow.
 */
export function encodeStreamOpen(open: { id: string } | { replayed: number } | undefined): string {
  if (open === undefined) return STREAM_OPEN;
  if ('id' in open) return encodeFields({ event: 'stream-open', id: open.id });
  return encodeFields({ event: 'stream-open', data: JSON.stringify({ replayed: open.replayed }) });
}
const STREAM_OPEN = encodeFields({ event: 'stream-open' });

/**
 * `stream-reset`: data `{"channels":[…],"reason":…}`, its id at the position the client continues
 * from (none on all but the last of several resets in a row: until the last, the client's old id
 * still says what it has).
 */
export function encodeStreamReset(
  id: string | undefined,
  channels: readonly string[],
  reason: string,
): string {
  return encodeFields({ event: 'stream-reset', id, data: JSON.stringify({ channels, reason }) });
}

/**
 * `stream-missed`: a client that fell behind on a `drop-oldest` or `conflate` channel lost
 * `missed` events and had `conflated` ones replaced by a later value of their key. No id: the
 * client's last id keeps saying what it has.
 */
export function encodeStreamMissed(missed: number, conflated: number): string {
  return encodeFields({ event: 'stream-missed', data: JSON.stringify({ missed, conflated }) });
}

/**
 * `stream-error` with `id: error`: the client's reconnect carries `Last-Event-ID: error`, which is
 * answered 204 so EventSource stops. The configured retry applies, so that reconnect comes quickly.
 */
export function encodeStreamError(condition: string, text: string, retry: number | undefined): string {
  return encodeFields({
    event: 'stream-error',
    id: 'error',
    retry,
    data: JSON.stringify({ condition, text }),
  });
}

/**
 * `stream-error` `unavailable`: the history or the bus cannot be reached now. Without an id, so
 * the client keeps its position, and the stream ends: EventSource reconnects after `retry` ms
 * with its Last-Event-ID, and resumes losslessly once the service is back.
 */
export function encodeUnavailable(text: string, retry: number | undefined): string {
  return encodeStreamEnd('unavailable', text, retry);
}

/**
 * `stream-error` without an id, before the server ends the stream: the client keeps its position
 * and may come back (`unavailable`; `token-expired`, with a fresh token) resuming from it.
 */
export function encodeStreamEnd(condition: string, text: string, retry: number | undefined): string {
  return encodeFields({ event: 'stream-error', retry, data: JSON.stringify({ condition, text }) });
}

/** The id `stream-error` carries; a reconnect with it is refused. */
export const STREAM_ERROR_ID = 'error';

/** Keep-alive bytes: `event: keep-alive` with empty data (visible to listeners) or a comment line. */
export function encodeKeepAliveEvent(format: 'event' | 'comment'): string {
  return format === 'event' ? encodeFields({ event: 'keep-alive' }) : encodeComment('');
}
