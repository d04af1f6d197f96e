// The response-stream endpoint without any HTTP library: `GET …/streams/:id` answered from the
// shared history (resume after Last-Event-ID), `POST …/streams/:id/stop` turned into a stop
// request for the producing process. Node and Fetch responders write what this returns.
import { withId } from '../base/encoder.js';
import { InvalidOptionError, ResponseStreamError } from '../base/errors.js';
import { assertKnownKeys, assertOptionalFunction } from '../base/option-checks.js';
import type { EventMap } from '../base/types.js';
import { type Events, internalsOf } from '../compose/events.js';
import { eventsProtocolOf } from '../compose/internal-key.js';
import { type Preamble, type RetryOption, resolvePreamble } from '../protocol/preamble.js';
import { lastEventIdOf, type RequestView } from '../protocol/request-view.js';
import type { StreamPiece } from '../streams/api.js';

/** Options of `streamHandler()` / `streamFetchHandler()`. */
export interface StreamHandlerOptions<M extends object = EventMap, Req = unknown> {
  /** The Events object whose response streams this endpoint serves. */
  events: Events<M>;
  /** The stream id of a request. Default: the last path segment (the one before `/stop` for a stop). */
  id?: (request: Req) => string | undefined;
  /** Return false to deny reading or stopping `id` (403). Stopping is authorised like reading. */
  authorize?: (request: Req, id: string, action: 'read' | 'stop') => boolean | Promise<boolean>;
  /** The text written for each piece. Default: its SSE event with its `id:` line. */
  render?: (piece: StreamPiece) => string | undefined;
  /**
   * The `retry:` line each stream starts with, as on the events endpoint: one delay in ms, or a
   * range each stream draws its own from. Default: none (EventSource then waits its own ~3 s
   * after a drop); a token stream usually wants it short, e.g. `retry: 500`.
   */
  retry?: RetryOption;
}

/** Checked options, with the preamble built once. */
export type ResolvedStreamOptions<M extends object, Req> = StreamHandlerOptions<M, Req> & {
  readonly preamble: Preamble;
};

/** A complete answer, or an event stream of text pieces. */
export type StreamAnswer =
  | { kind: 'complete'; status: number; headers: Record<string, string>; body: string }
  | { kind: 'stream'; headers: Record<string, string>; pieces: AsyncIterable<string> };

const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
};
/** A comment every 15 s while the producer is quiet, so proxies keep the connection. */
const KEEP_ALIVE_MS = 15_000;

export function resolveStreamOptions<M extends object, Req>(
  options: StreamHandlerOptions<M, Req>,
): ResolvedStreamOptions<M, Req> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', 'options must be an object like { events }');
  }
  assertKnownKeys(options, ['events', 'id', 'authorize', 'render', 'retry']);
  if (eventsProtocolOf(options.events) !== 'compatible') {
    throw new InvalidOptionError('events', 'options.events must be an Events object created with events()');
  }
  assertOptionalFunction('id', options.id);
  assertOptionalFunction('authorize', options.authorize);
  assertOptionalFunction('render', options.render);
  return { ...options, preamble: resolvePreamble(false, options.retry) };
}

/** The answer to one request; `signal` aborts when the client leaves. */
export async function answerStreamRequest<M extends object, Req>(
  options: ResolvedStreamOptions<M, Req>,
  request: Req,
  view: RequestView,
  signal: AbortSignal,
): Promise<StreamAnswer> {
  const path = view.url.split('?')[0] ?? '';
  const segments = path.split('/').filter((s) => s !== '');
  const stopping = view.method === 'POST' && segments.at(-1) === 'stop';
  if (!stopping && view.method !== 'GET') {
    return text(405, 'Method Not Allowed: GET a stream, POST …/stop to stop it', { allow: 'GET, POST' });
  }
  const raw = options.id ? options.id(request) : decodeSegment(segments.at(stopping ? -2 : -1));
  if (raw === undefined) return text(404, 'Not Found: no stream id in the path');
  const id = raw;
  if (options.authorize && !(await options.authorize(request, id, stopping ? 'stop' : 'read'))) {
    return text(403, `Forbidden: stream ${JSON.stringify(id)}`);
  }
  try {
    if (stopping) {
      const outcome = await options.events.stopStream(id);
      if (outcome === 'unknown')
        return text(404, `Not Found: stream ${JSON.stringify(id)} is unknown or expired`);
      if (outcome === 'ended') return text(409, `Conflict: stream ${JSON.stringify(id)} has ended`);
      return text(202, `Accepted: stopping stream ${JSON.stringify(id)}`);
    }
    const reading = await internalsOf(options.events).streams.read(id, {
      // As on the events endpoint: the header, else `?lastEventId=` (a new page's EventSource
      // cannot set the header); the reader places or refuses the id, whichever way it came.
      lastEventId: lastEventIdOf(view),
      signal,
    });
    if (reading.status === 'complete') return { kind: 'complete', status: 204, headers: {}, body: '' };
    if (reading.status !== 'open') {
      return text(404, `Not Found: stream ${JSON.stringify(id)} is ${reading.status}`, {
        'x-stream-status': reading.status,
      });
    }
    const render = options.render ?? ((piece: StreamPiece) => withId(piece.id, piece.body));
    const pieces = rendered(options.preamble.text(), reading.pieces, render);
    return { kind: 'stream', headers: { ...STREAM_HEADERS }, pieces };
  } catch (err) {
    if (err instanceof ResponseStreamError && err.problem === 'invalid-id')
      return text(400, `Bad Request: ${err.message}`);
    throw err;
  }
}

/** The preamble, then rendered pieces, with a keep-alive comment whenever the stream was quiet for a while. */
async function* rendered(
  preamble: string,
  pieces: AsyncIterable<StreamPiece>,
  render: (piece: StreamPiece) => string | undefined,
): AsyncGenerator<string> {
  const iterator = pieces[Symbol.asyncIterator]();
  let next = iterator.next();
  try {
    if (preamble !== '') yield preamble;
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const quiet = new Promise<'quiet'>((resolve) => {
        timer = setTimeout(() => resolve('quiet'), KEEP_ALIVE_MS);
      });
      const result = await Promise.race([next, quiet]);
      clearTimeout(timer);
      if (result === 'quiet') {
        yield ':\n\n';
        continue;
      }
      if (result.done) return;
      next = iterator.next();
      const out = render(result.value);
      if (out !== undefined && out !== '') yield out;
    }
  } finally {
    await iterator.return?.();
  }
}

function decodeSegment(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function text(status: number, body: string, headers: Record<string, string> = {}): StreamAnswer {
  return {
    kind: 'complete',
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
    body,
  };
}
