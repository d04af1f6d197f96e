// Handler options shared by every responder (node:http, Express, Fetch): validated once, into the
// Endpoint the request decision serves. Knows no HTTP library.
import { InvalidOptionError } from '../core/errors.js';
import { coreOf, type Events, eventsProtocolOf } from '../core/events.js';
import { assertGripKeys, assertKnownKeys } from '../core/option-keys.js';
import { type GripOption, resolveGrip } from '../grip/index.js';
import type { Endpoint } from '../protocol/decision.js';
import { type RetryOption, resolvePreamble } from '../protocol/preamble.js';

/** The options every responder takes; `channels` and `authorize` receive its request type. */
interface EndpointOptions<M extends object> {
  events: Events<M>;
  grip?: GripOption | null;
  channels?: unknown;
  authorize?: unknown;
  retry?: RetryOption;
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
] as const satisfies ReadonlyArray<keyof EndpointOptions<object>>;

function assertFunction(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new InvalidOptionError(name, `${name} must be a function`);
  }
}

/** Validate handler options against an Events object; the endpoint the decision serves. */
export function resolveEndpoint<M extends object>(
  options: EndpointOptions<M>,
): { events: Events<M>; endpoint: Endpoint } {
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
  const preamble = resolvePreamble(options.padding === true, options.retry);
  const core = coreOf(events);
  const grip = options.grip === undefined ? core.grip : core.grip.withProxies(resolveGrip(options.grip));
  const { subscriptions } = core;
  const endpoint: Endpoint = {
    grip,
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
  return { events, endpoint };
}
