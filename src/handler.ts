// The framework-free HTTP handler: decides what a request gets (a stream, a GRIP hold, a
// stream-error, or a plain status) and hands accepted streams to the Events object.
import { ServerResponse } from 'node:http';
import { gripSigRejected } from './debug.js';
import { encodeComment, encodeFields } from './encoder.js';
import { EventStoreError, InvalidOptionError } from './errors.js';
import { type Events, eventsProtocolOf } from './events.js';
import {
  checkGripRequest,
  type GripOption,
  type GripSettings,
  holdHeaders,
  resolveGrip,
} from './grip/index.js';
import {
  hasGripLast,
  linkLifetimeSec,
  parseGripLast,
  RECOVER_PARAM,
  recoveryLink,
  signRecoveryToken,
  verifyRecoveryToken,
} from './grip/recovery.js';
import { assertGripKeys, assertKnownKeys } from './options.js';
import {
  channelsFromQuery,
  checkChannels,
  classifyAccept,
  headerValue,
  lastEventIdOf,
  queryOf,
} from './request.js';
import type { EventMap, HttpRequest, HttpResponse } from './types.js';

export interface HandlerOptions<M extends object = EventMap, Req extends HttpRequest = HttpRequest> {
  /** The Events object whose channels this endpoint serves. */
  events: Events<M>;
  /**
   * GRIP configuration used to recognise and verify requests coming through a proxy. Defaults to
   * the Events object's `grip`; pass `null` to serve every request directly.
   */
  grip?: GripOption | null;
  /** Channels a request subscribes to. Default: the repeated `?channel=` query parameter. */
  channels?: (req: Req) => readonly string[] | Promise<readonly string[]>;
  /** Return false to deny: `stream-error` with condition `forbidden` (403 for non-SSE clients). */
  authorize?: (req: Req, channels: readonly string[]) => boolean | Promise<boolean>;
  /** Reconnection delay (ms) sent to clients in the first bytes of every stream. */
  retry?: number;
  /** Send a 2 KiB comment first, for old proxies and polyfills that buffer small responses. */
  padding?: boolean;
}

/** A `(req, res)` listener for `http.createServer()` or `http2.createSecureServer({ allowHTTP1: true })`. */
export type EventStreamHandler<Req extends HttpRequest = HttpRequest> = (req: Req, res: HttpResponse) => void;

/** Headers of every event-stream response. No Connection/Transfer-Encoding: illegal on HTTP/2. */
export const EVENT_STREAM_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
});

/** Conditions of `stream-error` events. */
export type StreamErrorCondition = 'bad-request' | 'forbidden';

const STATUS_FOR: Record<StreamErrorCondition, number> = { 'bad-request': 400, forbidden: 403 };
const ALLOW = 'GET, HEAD, OPTIONS';

/** Every key `createHandler()` and `express()` accept. */
const HANDLER_OPTION_KEYS = [
  'events',
  'grip',
  'channels',
  'authorize',
  'retry',
  'padding',
] as const satisfies ReadonlyArray<keyof HandlerOptions>;

function assertFunction(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new InvalidOptionError(name, `${name} must be a function`);
  }
}

export function createHandler<M extends object = EventMap, Req extends HttpRequest = HttpRequest>(
  options: HandlerOptions<M, Req>,
): EventStreamHandler<Req> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', 'options must be an object like { events }');
  }
  assertKnownKeys(options, HANDLER_OPTION_KEYS);
  assertGripKeys(options.grip);
  const { events } = options;
  const protocol = eventsProtocolOf(events);
  if (protocol === 'incompatible') {
    throw new InvalidOptionError(
      'events',
      'options.events comes from an incompatible version of express-eventstream; install one version',
    );
  }
  if (protocol === 'none') {
    throw new InvalidOptionError('events', 'options.events must be an Events object created with events()');
  }
  assertFunction(options.channels, 'channels');
  assertFunction(options.authorize, 'authorize');
  if (options.retry !== undefined && (!Number.isSafeInteger(options.retry) || options.retry < 0)) {
    throw new InvalidOptionError('retry', 'retry must be a non-negative integer (ms)');
  }
  const grip: GripSettings | undefined = options.grip === undefined ? events.grip : resolveGrip(options.grip);
  const { maxChannelsPerRequest, maxChannelNameLength, keepAliveMs, keepAliveText } = events.settings;

  // Sent before stream-open on every stream.
  let preamble = '';
  if (options.padding === true) preamble += encodeComment(' '.repeat(2048));
  if (options.retry !== undefined) preamble += `retry: ${options.retry}\n\n`;
  const keepAlive = keepAliveMs === false ? undefined : { text: keepAliveText, intervalMs: keepAliveMs };

  async function handle(req: Req, res: HttpResponse): Promise<void> {
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      res.writeHead(204, { Allow: ALLOW });
      res.end();
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      plain(res, 405, `Method Not Allowed: ${method}; this endpoint serves GET`, { Allow: ALLOW });
      return;
    }
    const accept = classifyAccept(headerValue(req, 'accept'));
    if (accept === 'refused') {
      plain(res, 406, 'Not Acceptable: this endpoint only produces text/event-stream');
      return;
    }
    // A client that got a stream-error reconnects with this id: refusing it stops EventSource.
    if (lastEventIdOf(req) === 'error') {
      res.writeHead(204, { 'Cache-Control': 'no-store' });
      res.end();
      return;
    }
    let proxied = false;
    if (grip !== undefined) {
      const check = await checkGripRequest(req, grip);
      if (check.kind === 'invalid') {
        gripSigRejected(events, check.reason);
        plain(res, 403, `Forbidden: ${check.reason}`);
        return;
      }
      proxied = check.kind === 'proxied';
    }
    const reliable = events.settings.reliable;
    // A recovery link is honoured only on a fetch by the proxy itself: signed by it (`proxied`)
    // and carrying Grip-Last, which Pushpin adds to its link fetches and strips from clients.
    // Anything else with ?es-recover= is an ordinary request: the parameter is ignored.
    const recoverToken =
      proxied && reliable !== undefined && method === 'GET' && hasGripLast(req)
        ? queryOf(req).get(RECOVER_PARAM)
        : null;
    if (recoverToken !== null && reliable !== undefined) {
      // The channels come from the signed link, and access is checked again on every recovery.
      const signed = verifyRecoveryToken(recoverToken, reliable.secret);
      if (signed === undefined || (options.authorize && (await options.authorize(req, signed)) !== true)) {
        // 200 without hold instructions or a next link: Pushpin ends the client's stream, and the
        // client reconnects with Last-Event-ID through the ordinary, authorized path.
        if (!isGone(res)) endProxiedStream(res);
        return;
      }
      const plan = await events.recoveryText(signed, parseGripLast(req, events.prefix));
      if (isGone(res)) return;
      hold(res, signed, Buffer.from(plan.text), plan.lastIds, req);
      return;
    }
    const requested = options.channels ? await options.channels(req) : channelsFromQuery(req);
    const checked = checkChannels(requested, maxChannelsPerRequest, maxChannelNameLength);
    if (!checked.ok) {
      refuse(res, accept, 'bad-request', `Bad Request: ${checked.text}`, options.retry);
      return;
    }
    const { channels } = checked;
    if (options.authorize && (await options.authorize(req, channels)) !== true) {
      refuse(
        res,
        accept,
        'forbidden',
        'Forbidden: not allowed to subscribe to the requested channels',
        options.retry,
      );
      return;
    }
    if (isGone(res)) return;
    if (method === 'HEAD') {
      res.writeHead(200, EVENT_STREAM_HEADERS);
      res.end();
      return;
    }
    const lastEventId = lastEventIdOf(req);
    if (proxied) {
      // The proxy only starts holding once this response ends: send the instructions and the
      // initial body (with any replay), with an explicit length, and end at once.
      const initial = await events.initialText(channels, preamble, lastEventId);
      if (isGone(res)) return;
      hold(res, channels, Buffer.from(initial.text), initial.lastIds, req);
      return;
    }
    events.openStream(res, channels, EVENT_STREAM_HEADERS, preamble, lastEventId);
  }

  /** Answer a proxied GET with hold instructions and `body`, and end at once. */
  function hold(
    res: HttpResponse,
    channels: readonly string[],
    body: Buffer,
    lastIds: Record<string, string> | undefined,
    req: Req,
  ): void {
    const reliable = events.settings.reliable;
    const link =
      reliable === undefined
        ? undefined
        : {
            uri: recoveryLink(
              req,
              signRecoveryToken(channels, reliable.secret, linkLifetimeSec(reliable.linkTimeoutSec)),
            ),
            timeoutSec: reliable.linkTimeoutSec,
          };
    res.writeHead(200, {
      ...EVENT_STREAM_HEADERS,
      ...holdHeaders({
        channels,
        prefix: events.prefix,
        keepAlive,
        ...(link !== undefined && lastIds !== undefined && { link, prevIds: lastIds }),
      }),
      'Content-Length': String(body.length),
    });
    res.end(body);
  }

  return function eventStreamHandler(req: Req, res: HttpResponse): void {
    handle(req, res).catch((err: unknown) => {
      const error = err instanceof Error ? err : new Error(String(err));
      events.report(error, {});
      if (res.headersSent) res.end();
      // The history is unreachable (only proxied requests read it before answering): a
      // temporary condition, said as such, so the proxy or client can retry.
      else if (error instanceof EventStoreError || (error as { code?: unknown }).code === 'ERR_SSE_STORE')
        plain(res, 503, 'Service Unavailable: the event history is unavailable', { 'Retry-After': '1' });
      else plain(res, 500, 'Internal Server Error');
    });
  };
}

function isGone(res: HttpResponse): boolean {
  if (res instanceof ServerResponse) return res.destroyed || res.socket?.destroyed === true;
  return res.stream.destroyed;
}

/** Answer a proxy's link fetch with nothing to hold: the proxy ends the client's stream. */
function endProxiedStream(res: HttpResponse): void {
  res.writeHead(200, { ...EVENT_STREAM_HEADERS, 'Content-Length': '0' });
  res.end();
}

function plain(res: HttpResponse, status: number, text: string, extra?: Record<string, string>): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
    ...extra,
  });
  res.end(body);
}

/**
 * Refuse a subscription. EventSource clients get a `stream-error` event (status 200, so the
 * browser reads it) with `id: error`; the stream then ends, and the reconnect that carries
 * `Last-Event-ID: error` is answered 204, which makes EventSource stop for good.
 */
function refuse(
  res: HttpResponse,
  accept: 'event-stream' | 'allowed',
  condition: StreamErrorCondition,
  text: string,
  retry: number | undefined,
): void {
  if (accept !== 'event-stream') {
    plain(res, STATUS_FOR[condition], text);
    return;
  }
  const body = encodeFields({
    event: 'stream-error',
    id: 'error',
    // The configured retry applies here too: the reconnect that gets the 204 comes quickly.
    retry,
    data: JSON.stringify({ condition, text }),
  });
  res.writeHead(200, { ...EVENT_STREAM_HEADERS, 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}
