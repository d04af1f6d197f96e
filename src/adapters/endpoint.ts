// Handler options shared by every responder (node:http, Express, Fetch): validated once, into the
// Endpoint the request decision serves. Knows no HTTP library.
import { InvalidOptionError } from '../base/errors.js';
import { assertGripKeys, assertKnownKeys, assertOptionalFunction } from '../base/option-checks.js';
import type { EventMap, StreamIdentity } from '../base/types.js';
import { type Events, internalsOf } from '../compose/events.js';
import { eventsProtocolOf } from '../compose/internal-key.js';
import { diag, type EventsView } from '../core/diagnostics.js';
import type { EventFilter } from '../core/filter.js';
import { holdBodies } from '../grip/hold-bodies.js';
import { type GripOption, resolveGrip } from '../grip/index.js';
import { TokenAuthorizer } from '../identity/tokens.js';
import type { PresenceMember } from '../presence/members.js';
import type { Endpoint } from '../protocol/decision.js';
import { type RetryOption, resolvePreamble } from '../protocol/preamble.js';
import type { RequestView } from '../protocol/request-view.js';

/**
 * The options of every event-stream handler, one type for all: `createHandler()` and `express()`
 * (`Req`: the node or Express request), `fetchHandler()` (a web `Request`), `fastifyHandler()` (a
 * `FastifyRequest`) and `koaMiddleware()` (a Koa `Context`). `channels` and `authorize` receive
 * that request object; each handler infers `Req` from its own signature.
 */
export interface HandlerOptions<M extends object = EventMap, Req = unknown> {
  /** The Events object whose channels this endpoint serves. */
  events: Events<M>;
  /**
   * GRIP configuration used to recognise and verify requests coming through a proxy. Defaults to
   * the Events object's `grip`; pass `null` to serve every request directly.
   */
  grip?: GripOption | null;
  /**
   * Channels a request subscribes to. Default: the repeated `?channel=` query parameter. With
   * `authorize: tokens(...)`, `identity` is the verified subscriber (e.g. `user:${identity.sub}`).
   */
  channels?: (
    request: Req,
    identity: StreamIdentity | undefined,
  ) => readonly string[] | Promise<readonly string[]>;
  /**
   * Return false to deny: `stream-error` with condition `forbidden` (403 for non-SSE clients). Or
   * `tokens({ keys, ... })`: a subscriber token (JWT) must allow every requested channel, and the
   * stream ends when it expires or is revoked.
   */
  authorize?: ((request: Req, channels: readonly string[]) => boolean | Promise<boolean>) | TokenAuthorizer;
  /**
   * Which events of its channels this request's stream receives, live and replayed: `{ key,
   * match(event) }`, or undefined for all. Streams whose filters share a `key` share one
   * `match` call per event. Direct streams only: a GRIP proxy fans out unfiltered. `identity` is
   * the verified subscriber token's (with `authorize: tokens(...)`).
   */
  filter?: (
    request: Req,
    channels: readonly string[],
    identity: StreamIdentity | undefined,
  ) => EventFilter | undefined | Promise<EventFilter | undefined>;
  /**
   * Who this request's subscriber is on presence channels (`events({ presence })`): `{ id,
   * info, events }`; `events: true` also sends it `presence-join` / `presence-leave`. Default:
   * the stream's own id, no info, no events. `identity` is the verified subscriber token's (with
   * `authorize: tokens(...)`), e.g. `{ id: identity.sub }`.
   */
  presence?: (
    request: Req,
    channels: readonly string[],
    identity: StreamIdentity | undefined,
  ) => PresenceMember | undefined | Promise<PresenceMember | undefined>;
  /**
   * Reconnection delay (ms) sent to clients in the first bytes of every stream. A range
   * `{ minDelayMs, maxDelayMs }` gives each stream its own delay drawn from it, so clients that
   * lose their connections together (a deploy, a network blip) do not come back together.
   */
  retry?: RetryOption;
  /** Send a 2 KiB comment first, for old proxies and polyfills that buffer small responses. */
  padding?: boolean;
}

/** Every key `createHandler()`, `express()` and `fetchHandler()` accept. */
const HANDLER_OPTION_KEYS = [
  'events',
  'grip',
  'channels',
  'authorize',
  'filter',
  'presence',
  'retry',
  'padding',
] as const satisfies ReadonlyArray<keyof HandlerOptions>;

/** Validate handler options against an Events object; the endpoint the decision serves. */
export function resolveEndpoint<M extends object, Req>(
  options: HandlerOptions<M, Req>,
): {
  events: Events<M>;
  endpoint: Endpoint;
  /** The user's `authorize` callback (none with `tokens()`, which the endpoint applies itself). */
  authorize: ((request: Req, channels: readonly string[]) => boolean | Promise<boolean>) | undefined;
} {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', 'options must be an object like { events }');
  }
  // express(ev) for express({ events: ev }): said plainly, not as an unknown key of an EventEmitter.
  if (eventsProtocolOf(options) !== 'none') {
    throw new InvalidOptionError(
      'options',
      'the handler was given an Events object itself; pass the options object { events }, e.g. express({ events: ev })',
    );
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
  assertOptionalFunction('channels', options.channels);
  const tokens = options.authorize instanceof TokenAuthorizer ? options.authorize : undefined;
  if (tokens === undefined) assertOptionalFunction('authorize', options.authorize);
  assertOptionalFunction('filter', options.filter);
  assertOptionalFunction('presence', options.presence);
  const preamble = resolvePreamble(options.padding === true, options.retry);
  const core = internalsOf(events);
  const grip = options.grip === undefined ? core.grip : core.grip.withProxies(resolveGrip(options.grip));
  const { identity } = core;
  const endpoint: Endpoint = {
    refused: (view, status, reason) => refused(events, view, status, reason),
    grip,
    access: {
      ...(tokens && { identify: (view) => tokens.identify(view) }),
      admit: (who, channels, options) => identity.admit(who, channels, options),
      held: (who) => identity.held(who),
    },
    maxChannelsPerRequest: core.settings.maxChannelsPerRequest,
    maxChannelNameLength: core.settings.maxChannelNameLength,
    retry: preamble.retry,
    // Read once per stream: with a retry range each read draws that stream's delay.
    get preamble() {
      return preamble.text();
    },
    history: holdBodies(core.settings.store, core.subscriptions),
  };
  return { events, endpoint, authorize: tokens === undefined ? (options.authorize as never) : undefined };
}

/** A refused request, for the diagnostics (and so the debug log): never its query, which may hold tokens. */
function refused(events: EventsView, view: RequestView, status: number, reason: string): void {
  if (!diag.refuse.hasSubscribers) return;
  const q = view.url.indexOf('?');
  diag.refuse.publish({
    source: events,
    namespace: events.name,
    status,
    reason,
    method: view.method,
    path: q === -1 ? view.url : view.url.slice(0, q),
    remoteAddress: view.remoteAddress,
  });
}
