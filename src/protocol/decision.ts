// The request decision: what a request to an event-stream endpoint gets, from a RequestView alone.
// Every responder (node:http, Express, Fetch) maps its request to a view, awaits `decide()`,
// and writes the verdict: a complete response (status, headers, body), or a stream to open.
import { encodeStreamError, STREAM_ERROR_ID } from '../base/encoder.js';
import { EventStoreError } from '../base/errors.js';
import type { StreamIdentity } from '../base/types.js';
import { classifyAccept } from './accept.js';
import { type Access, recoveryAccess } from './access.js';
import { channelsFromQuery, checkChannels } from './channels.js';
import type { GripRequests } from './grip-requests.js';
import { lastEventIdOf, queryOf, type RequestView } from './request-view.js';

/** Headers of every event-stream response. No Connection/Transfer-Encoding: illegal on HTTP/2. */
export const EVENT_STREAM_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
});

/**
 * Conditions of `stream-error` events that refuse a stream: `bad-request` (400), `unauthorized`
 * (401: no valid subscriber token), `token-expired` (401: get a fresh token, then resume),
 * `forbidden` (403) and `revoked` (403: `events.revoke()`).
 */
export type StreamErrorCondition = 'bad-request' | 'unauthorized' | 'token-expired' | 'forbidden' | 'revoked';

/** A complete response: write `status` and `headers`, send `body`, end. */
interface Complete {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

export type Verdict =
  /** Refused: a plain-text status, or (for EventSource clients) a `stream-error` event. */
  | (Complete & { readonly kind: 'refuse'; readonly text: string; readonly condition?: StreamErrorCondition })
  /** Answered without a stream: OPTIONS, HEAD, the 204 ending a stream-error, an empty recovery. */
  | (Complete & { readonly kind: 'answer' })
  /** Through a GRIP proxy: hold instructions and the initial body (with any replay). */
  | (Complete & { readonly kind: 'hold'; readonly channels: readonly string[] })
  /** A proxy's reliable-mode recovery fetch: what follows its last ids, and the next hold. */
  | (Complete & { readonly kind: 'recover'; readonly channels: readonly string[] })
  /** A direct client: open a stream on `channels`, resuming after `lastEventId`. */
  | {
      readonly kind: 'stream';
      readonly status: 200;
      readonly headers: Readonly<Record<string, string>>;
      readonly channels: readonly string[];
      readonly lastEventId: string | undefined;
      /** The subscriber's verified identity (with `authorize: tokens(...)`). */
      readonly identity: StreamIdentity | undefined;
      /** `?channelField=1`: each event of a channel carries a `channel:` field. */
      readonly tagged: boolean;
    };

/** What an endpoint serves, resolved once per handler. */
export interface Endpoint {
  /** Told of every refusal (for the diagnostics): the status meant and the answer's text. */
  readonly refused?: ((view: RequestView, status: number, reason: string) => void) | undefined;
  readonly grip: GripRequests;
  readonly access: Access;
  readonly maxChannelsPerRequest: number;
  readonly maxChannelNameLength: number;
  /** Reconnection delay sent first on every stream (and with `stream-error`). */
  readonly retry: number | undefined;
  /**
   * Sent before `stream-open` on every stream (padding, retry). With a `retry` range each read
   * draws a new delay: read it once per stream.
   */
  readonly preamble: string;
  /** The history, for bodies a proxy gets before holding. */
  readonly history: {
    initial(
      channels: readonly string[],
      preamble: string,
      lastEventId: string | undefined,
    ): Promise<{ text: string; lastIds: Record<string, string> | undefined }>;
    recovery(
      channels: readonly string[],
      positions: Readonly<Record<string, string>>,
    ): Promise<{ text: string; lastIds: Record<string, string> }>;
  };
}

/** The user's per-request callbacks, bound to the framework's request by the responder. */
export interface RequestHooks {
  channels?: ((identity: StreamIdentity | undefined) => unknown) | undefined;
  authorize?: ((channels: readonly string[]) => boolean | Promise<boolean>) | undefined;
}

const ALLOW = 'GET, HEAD, OPTIONS';
const STATUS_FOR: Record<StreamErrorCondition, number> = {
  'bad-request': 400,
  unauthorized: 401,
  'token-expired': 401,
  forbidden: 403,
  revoked: 403,
};
const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** Decide what a request gets. Rejects only when a callback or the history fails (see `failure`). */
export async function decide(
  view: RequestView,
  endpoint: Endpoint,
  hooks: RequestHooks = {},
): Promise<Verdict> {
  const verdict = await decideVerdict(view, endpoint, hooks);
  if (verdict.kind === 'refuse' && endpoint.refused !== undefined) {
    // An EventSource client's refusal is a 200 carrying stream-error: report the status it stands for.
    endpoint.refused(view, verdict.condition ? STATUS_FOR[verdict.condition] : verdict.status, verdict.text);
  }
  return verdict;
}

async function decideVerdict(view: RequestView, endpoint: Endpoint, hooks: RequestHooks): Promise<Verdict> {
  const method = view.method;
  if (method === 'OPTIONS') return { kind: 'answer', status: 204, headers: { Allow: ALLOW }, body: EMPTY };
  if (method !== 'GET' && method !== 'HEAD') {
    return textVerdict(405, `Method Not Allowed: ${method}; this endpoint serves GET`, { Allow: ALLOW });
  }
  const accept = classifyAccept(view.header('accept'));
  if (accept === 'refused')
    return textVerdict(406, 'Not Acceptable: this endpoint only produces text/event-stream');
  // A client that got a stream-error reconnects with this id: refusing it stops EventSource.
  if (lastEventIdOf(view) === STREAM_ERROR_ID) {
    return { kind: 'answer', status: 204, headers: { 'Cache-Control': 'no-store' }, body: EMPTY };
  }
  const checking = endpoint.grip.check(view);
  const check = checking instanceof Promise ? await checking : checking;
  if (check.kind === 'invalid') return textVerdict(403, `Forbidden: ${check.reason}`);
  const proxied = check.kind === 'proxied';
  const recovery = proxied ? endpoint.grip.recovery(view) : undefined;
  if (recovery !== undefined) {
    // The channels come from the signed link, and access is checked again on every recovery.
    const allowed =
      recovery.valid &&
      (!hooks.authorize || (await hooks.authorize(recovery.channels)) === true) &&
      (await recoveryAccess(view, endpoint.access, recovery.channels, recovery.identity));
    if (!allowed) {
      // 200 without hold instructions or a next link: Pushpin ends the client's stream, and the
      // client reconnects with Last-Event-ID through the ordinary, authorized path.
      return {
        kind: 'answer',
        status: 200,
        headers: { ...EVENT_STREAM_HEADERS, 'Content-Length': '0' },
        body: EMPTY,
      };
    }
    const plan = await endpoint.history.recovery(recovery.channels, recovery.positions);
    const identity = allowed === true ? undefined : allowed.identity;
    if (identity !== undefined) endpoint.access.held?.(identity);
    return holdVerdict('recover', view, endpoint, recovery.channels, plan.text, plan.lastIds, identity);
  }
  let identity: StreamIdentity | undefined;
  if (endpoint.access.identify !== undefined) {
    const verified = await endpoint.access.identify(view);
    if (!verified.ok)
      return refuse(accept, verified.condition, `Unauthorized: ${verified.text}`, endpoint.retry);
    identity = verified.identity;
  }
  const requested = hooks.channels ? await hooks.channels(identity) : channelsFromQuery(view);
  const checked = checkChannels(requested, endpoint.maxChannelsPerRequest, endpoint.maxChannelNameLength);
  if (!checked.ok) return refuse(accept, 'bad-request', `Bad Request: ${checked.text}`, endpoint.retry);
  const { channels } = checked;
  const denied = await endpoint.access.admit(identity, channels);
  if (denied !== undefined) return refuse(accept, denied.condition, denied.text, endpoint.retry);
  if (hooks.authorize && (await hooks.authorize(channels)) !== true) {
    return refuse(
      accept,
      'forbidden',
      'Forbidden: not allowed to subscribe to the requested channels',
      endpoint.retry,
    );
  }
  const tooMany = proxied ? endpoint.grip.holdProblem(channels, identity) : undefined;
  if (tooMany !== undefined) return refuse(accept, 'bad-request', `Bad Request: ${tooMany}`, endpoint.retry);
  const field = queryOf(view).get('channelField');
  if (field !== null && field !== '1') {
    return refuse(accept, 'bad-request', 'Bad Request: channelField must be 1 when given', endpoint.retry);
  }
  if (field !== null && proxied) {
    // A proxy sends one copy of each event to all of a channel's subscribers: it cannot add a
    // field for some of them only, and adding it for all would change every client's stream.
    return refuse(
      accept,
      'bad-request',
      'Bad Request: channelField is not available through a GRIP proxy',
      endpoint.retry,
    );
  }
  if (method === 'HEAD') return { kind: 'answer', status: 200, headers: EVENT_STREAM_HEADERS, body: EMPTY };
  const lastEventId = lastEventIdOf(view);
  if (proxied) {
    // The proxy only starts holding once this response ends: the instructions and the initial
    // body (with any replay), with an explicit length.
    const initial = await endpoint.history.initial(channels, endpoint.preamble, lastEventId);
    if (identity !== undefined) endpoint.access.held?.(identity);
    return holdVerdict('hold', view, endpoint, channels, initial.text, initial.lastIds, identity);
  }
  return {
    kind: 'stream',
    status: 200,
    headers: EVENT_STREAM_HEADERS,
    channels,
    lastEventId,
    identity,
    tagged: field !== null,
  };
}

/**
 * What to answer when `decide()` rejected, if nothing was sent yet. The history being unreachable
 * (only proxied requests read it before answering) is temporary and said as such, so the proxy
 * or client can retry.
 */
export function failure(error: unknown): Verdict {
  if (error instanceof EventStoreError || (error as { code?: unknown } | null)?.code === 'ERR_SSE_STORE') {
    return textVerdict(503, 'Service Unavailable: the event history is unavailable', { 'Retry-After': '1' });
  }
  return textVerdict(500, 'Internal Server Error');
}

function holdVerdict(
  kind: 'hold' | 'recover',
  view: RequestView,
  endpoint: Endpoint,
  channels: readonly string[],
  text: string,
  lastIds: Record<string, string> | undefined,
  identity?: StreamIdentity,
): Verdict {
  const body = utf8.encode(endpoint.grip.holdText(text));
  const headers = {
    ...EVENT_STREAM_HEADERS,
    ...endpoint.grip.holdHeaders(view, channels, lastIds, identity),
    'Content-Length': String(body.length),
  };
  return { kind, status: 200, headers, body, channels };
}

function textVerdict(status: number, text: string, extra?: Record<string, string>): Verdict {
  const body = utf8.encode(`${text}\n`);
  const headers = {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(body.length),
    'Cache-Control': 'no-store',
    ...extra,
  };
  return { kind: 'refuse', status, headers, body, text };
}

/**
 * Refuse a subscription. EventSource clients get a `stream-error` event (status 200, so the
 * browser reads it) with `id: error`; the stream then ends, and the reconnect that carries
 * `Last-Event-ID: error` is answered 204, which makes EventSource stop for good.
 */
function refuse(
  accept: 'event-stream' | 'allowed',
  condition: StreamErrorCondition,
  text: string,
  retry: number | undefined,
): Verdict {
  if (accept !== 'event-stream') return { ...textVerdict(STATUS_FOR[condition], text), condition } as Verdict;
  const body = utf8.encode(encodeStreamError(condition, text, retry));
  const headers = { ...EVENT_STREAM_HEADERS, 'Content-Length': String(body.length) };
  return { kind: 'refuse', status: 200, headers, body, text, condition };
}
