// Handler options shared by every responder (node:http, Express, Fetch): validated once, into the
// Endpoint the request decision serves. Knows no HTTP library.
import { InvalidOptionError } from '../base/errors.js';
import { assertGripKeys, assertKnownKeys, assertOptionalFunction } from '../base/option-checks.js';
import type { EventMap, StreamIdentity } from '../base/types.js';
import { type Events, internalsOf } from '../compose/events.js';
import { eventsProtocolOf } from '../compose/internal-key.js';
import { type GripOption, resolveGrip } from '../grip/index.js';
import { TokenAuthorizer } from '../identity/tokens.js';
import type { Endpoint } from '../protocol/decision.js';
import { type RetryOption, resolvePreamble } from '../protocol/preamble.js';

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
  const preamble = resolvePreamble(options.padding === true, options.retry);
  const core = internalsOf(events);
  const grip = options.grip === undefined ? core.grip : core.grip.withProxies(resolveGrip(options.grip));
  const { subscriptions, identity } = core;
  const endpoint: Endpoint = {
    grip,
    access: {
      ...(tokens && { identify: (view) => tokens.identify(view) }),
      admit: (who, channels) => identity.admit(who, channels),
    },
    maxChannelsPerRequest: core.settings.maxChannelsPerRequest,
    maxChannelNameLength: core.settings.maxChannelNameLength,
    retry: preamble.retry,
    // Read once per stream: with a retry range each read draws that stream's delay.
    get preamble() {
      return preamble.text();
    },
    history: {
      initial: (channels, preamble, lastEventId) =>
        subscriptions.initialText(channels, preamble, lastEventId),
      recovery: (channels, positions) => subscriptions.recoveryText(channels, positions),
    },
  };
  return { events, endpoint, authorize: tokens === undefined ? (options.authorize as never) : undefined };
}
