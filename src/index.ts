import { Events, type EventsOptions } from './events.js';
import type { EventMap } from './types.js';

export { Channel, type ChannelEvents } from './channel.js';
export { channelNameProblem } from './channel-name.js';
export {
  type ConnectMessage,
  type DeliverMessage,
  DIAGNOSTICS_CHANNELS,
  type DiagnosticsChannelName,
  type DiagnosticsMessages,
  type DiagnosticsSource,
  type DisconnectMessage,
  type DisconnectReasonName,
  type EventsView,
  type GripAttemptMessage,
  type GripAttemptOutcome,
  type GripFailureMessage,
  type GripMessageBase,
  type GripRetryMessage,
  type GripSigRejectedMessage,
  onDiagnostics,
  type PublishMessage,
  type ReplayMessage,
  type ResetMessage,
  type ResumeVia,
  type SlowDropMessage,
  type StoreErrorMessage,
} from './diagnostics.js';
export { encodeComment, encodeEvent, type WireEvent } from './encoder.js';
export {
  DataSerializationError,
  EventStoreError,
  EventStreamError,
  EventsClosedError,
  EventTooLargeError,
  InvalidChannelError,
  InvalidEventError,
  InvalidOptionError,
  ListenerError,
} from './errors.js';
export {
  type ConnectionInfo,
  type DisconnectInfo,
  type ErrorContext,
  Events,
  type EventsEvents,
  type EventsOptions,
  type EventsStats,
} from './events.js';
export {
  type EventStreamMiddleware,
  type ExpressOptions,
  type ExpressRequest,
  express,
} from './express.js';
export {
  FASTLY_FANOUT_PUBLIC_JWK,
  GripConfigError,
  type GripOption,
  type GripProxyOptions,
  GripPublishError,
  type GripRetryOptions,
} from './grip/index.js';
export {
  createHandler,
  EVENT_STREAM_HEADERS,
  type EventStreamHandler,
  type HandlerOptions,
  type StreamErrorCondition,
} from './handler.js';
export type {
  EncodedEvent,
  EventFields,
  EventInput,
  EventMap,
  EventSink,
  HttpRequest,
  HttpResponse,
} from './types.js';

/**
 * Create an Events namespace. Declare an event map to type-check `data` per event name:
 * `events<{ time: { value: string } }>()`.
 */
export function events<M extends object = EventMap>(options?: EventsOptions): Events<M> {
  return new Events<M>(options);
}
