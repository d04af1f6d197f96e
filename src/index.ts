// The public surface. Everything exported here is documented in the README; internals stay in
// their modules (internal members are stripped from the .d.ts by stripInternal).

export type { HandlerOptions } from './adapters/endpoint.js';
export {
  type EventStreamMiddleware,
  type ExpressRequest,
  eventStream,
  express,
} from './adapters/express.js';
export { type FetchEventStreamHandler, fetchHandler } from './adapters/fetch.js';
export {
  createHandler,
  type EventStreamHandler,
  type HttpRequest,
  type HttpResponse,
} from './adapters/node.js';
export type { StreamHandlerOptions } from './adapters/stream-endpoint.js';
export { streamFetchHandler } from './adapters/stream-fetch.js';
export { streamHandler } from './adapters/stream-node.js';
export { channelNameProblem } from './base/channel-name.js';
export { encodeComment, encodeEvent, MAX_EVENT_ID_LENGTH, type WireEvent } from './base/encoder.js';
export {
  DataSerializationError,
  type ErrorCode,
  EventStoreError,
  EventStreamError,
  EventsClosedError,
  EventTooLargeError,
  InvalidChannelError,
  InvalidEventError,
  InvalidOptionError,
  ListenerError,
  NoHistoryError,
  ResponseStreamError,
  type ResponseStreamProblem,
} from './base/errors.js';
export type {
  ConnectionInfo,
  DisconnectInfo,
  DisconnectReason,
  EncodedEvent,
  ErrorContext,
  EventFields,
  EventInput,
  EventMap,
  EventSink,
  EventsEvents,
  EventsStats,
  ResetReason,
  StreamIdentity,
} from './base/types.js';
export { Events, events } from './compose/events.js';
export type { EventsOptions } from './compose/options.js';
export { Channel, type ChannelEvents } from './core/channel.js';
export {
  type ConnectMessage,
  type DeliverMessage,
  DIAGNOSTICS_CHANNELS,
  type DiagnosticsChannelName,
  type DiagnosticsMessages,
  type DiagnosticsSource,
  type DisconnectMessage,
  type EventsView,
  type GripAttemptMessage,
  type GripAttemptOutcome,
  type GripFailureMessage,
  type GripMessageBase,
  type GripRetryMessage,
  type GripSigRejectedMessage,
  onDiagnostics,
  type PublishMessage,
  type RefuseMessage,
  type ReplayMessage,
  type ResetMessage,
  type ResetVia,
  type ResumeVia,
  type SlowDropMessage,
  type StoreErrorMessage,
} from './core/diagnostics.js';
export type { CloseOptions } from './core/drain.js';
export type { EventView } from './core/event-view.js';
export type { EventFilter } from './core/filter.js';
export type { OverloadOption, OverloadPolicy } from './core/overload.js';
export type { PublishOptions } from './core/publish-options.js';
export {
  type BusEvent,
  type BusResetReason,
  type BusSink,
  type EventBus,
  LocalBus,
} from './engine/bus.js';
export {
  type ControlChannel,
  type ControlSink,
  type JsonValue,
  LocalControl,
  MAX_CONTROL_PAYLOAD_BYTES,
} from './engine/control.js';
export type { Engine } from './engine/engine.js';
export { MemoryState, type SharedState } from './engine/state.js';
export type {
  AppendItem,
  AppendOutcome,
  AppendResult,
  EventStore,
  ReadResult,
  StoredRecord,
} from './engine/store.js';
export {
  FASTLY_FANOUT_PUBLIC_JWK,
  GripConfigError,
  type GripJsonWebKey,
  type GripOption,
  type GripProxyOptions,
  GripPublishError,
  type GripRetryOptions,
} from './grip/index.js';
export { MemoryStore, type MemoryStoreOptions } from './history/memory-store.js';
export type { AsymmetricAlgorithm, PublicJwk, TokenKey } from './identity/keys.js';
export type { RevokeOptions, RevokeSelector } from './identity/revocations.js';
export type { TokenSource } from './identity/token-source.js';
export {
  TokenAuthorizer,
  type TokenCheck,
  type TokenOptions,
  type TokenRefusal,
  tokens,
} from './identity/tokens.js';
export type { PresenceEntry, PresenceMember, PresenceSnapshot } from './presence/members.js';
export type { PresenceOption } from './presence/options.js';
export { EVENT_STREAM_HEADERS, type StreamErrorCondition } from './protocol/decision.js';
export type { RetryOption } from './protocol/preamble.js';
export type {
  ReadStreamOptions,
  ResponseStream,
  ResponseStreamOptions,
  StopOutcome,
  StreamEnding,
  StreamPiece,
  StreamReading,
} from './streams/api.js';
