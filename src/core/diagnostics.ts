// Diagnostics channels (node:diagnostics_channel): one named channel per lifecycle step, the base
// for metrics, tracing and debug logs. Channels are looked up once, here, at module load; every
// emission point checks `hasSubscribers` first, so nothing is built or sent while nobody listens.
// Channel names are global to the process, so the ESM and CJS builds (and the metrics entry)
// share them.
import diagnosticsChannel from 'node:diagnostics_channel';
import { InvalidOptionError } from '../base/errors.js';
import type {
  DisconnectReason,
  EncodedEvent,
  EventsStats,
  ResetReason,
  StreamIdentity,
} from '../base/types.js';

/** Names of the diagnostics channels, for `diagnostics_channel.subscribe(name, fn)`. */
export const DIAGNOSTICS_CHANNELS = Object.freeze({
  /** A batch of events (one event-loop turn's `publish()` calls) got its ids and is about to be delivered. */
  publish: 'express-eventstream:publish',
  /** The bus delivered a batch here and it was written to this process's direct connections. */
  deliver: 'express-eventstream:deliver',
  /** A direct stream opened. */
  connect: 'express-eventstream:connect',
  /** A direct stream closed, with the reason. */
  disconnect: 'express-eventstream:disconnect',
  /** A client resumed with `Last-Event-ID` and was sent the stored events after it. */
  replay: 'express-eventstream:replay',
  /** A `stream-reset` was sent: the history (or a shared bus) could not bridge a client's gap. */
  reset: 'express-eventstream:reset',
  /** A client was cut off because its outbound buffer passed `maxBufferBytes`. */
  slowDrop: 'express-eventstream:slow-drop',
  /** One HTTP request to a GRIP proxy's publish endpoint finished (success or not). */
  gripAttempt: 'express-eventstream:grip:attempt',
  /** A failed GRIP publish request will be retried after `delayMs`. */
  gripRetry: 'express-eventstream:grip:retry',
  /** A GRIP publish gave up: the batch did not reach this proxy. */
  gripFailure: 'express-eventstream:grip:failure',
  /** A request carried a `Grip-Sig` that did not verify (answered 403). */
  gripSigRejected: 'express-eventstream:grip:sig-rejected',
  /** The event history (EventStore) failed to append or read. */
  storeError: 'express-eventstream:store-error',
  /** A request to an event-stream endpoint was refused (400, 403, 405, 406) before any stream opened. */
  refuse: 'express-eventstream:refuse',
} as const);

/** The name of one of the `node:diagnostics_channel` channels in `DIAGNOSTICS_CHANNELS`. */
export type DiagnosticsChannelName = (typeof DIAGNOSTICS_CHANNELS)[keyof typeof DIAGNOSTICS_CHANNELS];

/** What a message's `source` offers: it is the Events object itself (compare with `===`). */
export interface EventsView {
  readonly name: string;
  readonly closed: boolean;
  stats(): EventsStats;
}

/** Fields of every message: which Events namespace it concerns. */
export interface DiagnosticsSource {
  /** The Events object that emitted it. */
  readonly source: EventsView;
  /** Its `name` option (default `'default'`): the namespace label of metrics. */
  readonly namespace: string;
}

/** `express-eventstream:publish` */
export interface PublishMessage extends DiagnosticsSource {
  /**
   * The events of the batch, in publish order, with ids and encoded text. These are the objects
   * (and `bytes` buffers) written to every subscriber: read them, never modify them.
   */
  readonly batch: readonly EncodedEvent[];
}

/**
 * `express-eventstream:deliver`, once per batch the bus hands to this process: with the in-process
 * bus, each published batch; with a shared bus (`RedisBus`), each batch it delivers, whichever
 * process published it (one per channel of an append, or one per catch-up page).
 */
export interface DeliverMessage extends DiagnosticsSource {
  /** Events in the batch. */
  readonly events: number;
  /** Event deliveries written now (one event to three connections counts three). */
  readonly deliveries: number;
  /** Bytes written now. Connections still resuming get the batch after their replay, not counted here. */
  readonly bytes: number;
  /**
   * Milliseconds from the first `publish()` call of the batch to its local fan-out (store append,
   * and a shared bus' round trip, included). Absent when the batch holds no event this process
   * published while someone listened to this channel (another process' events).
   */
  readonly durationMs?: number;
}

/** `express-eventstream:connect` */
export interface ConnectMessage extends DiagnosticsSource {
  readonly channels: readonly string[];
  /** Numbers this process's streams in order of opening; its disconnect message carries it too. */
  readonly connectionId: number;
  /** The peer's address as the socket reports it (a proxy's, behind one); absent on Fetch servers. */
  readonly remoteAddress?: string | undefined;
  /** The verified identity of a stream opened with a token (its claims, never the token). */
  readonly identity?: StreamIdentity;
}

/** `express-eventstream:disconnect` */
export interface DisconnectMessage extends DiagnosticsSource {
  readonly channels: readonly string[];
  readonly reason: DisconnectReason;
  /** The `connectionId` of the stream's connect message. */
  readonly connectionId: number;
  readonly remoteAddress?: string | undefined;
  /** Milliseconds the stream was open. */
  readonly durationMs: number;
  readonly identity?: StreamIdentity;
}

/** How a resumed stream is served. */
export type ResumeVia = 'stream' | 'grip-hold';

/** `express-eventstream:replay` */
export interface ReplayMessage extends DiagnosticsSource {
  readonly channels: readonly string[];
  /** The `Last-Event-ID` the client sent. */
  readonly lastEventId: string;
  /** Stored events sent (0 when the client was up to date or got a reset instead). */
  readonly events: number;
  /** `stream` for a direct connection, `grip-hold` for the initial body of a GRIP hold. */
  readonly via: ResumeVia;
  /** A `stream-reset` was sent for (some of) the channels: their events were not replayed. */
  readonly reset: boolean;
}

/** Where a `stream-reset` came from: a resume (direct or GRIP hold), or a shared bus that lost events. */
export type ResetVia = ResumeVia | 'bus';

/** `express-eventstream:reset`, once per `stream-reset` sent (a bus reset: once per stream it reaches). */
export interface ResetMessage extends DiagnosticsSource {
  /** Channels the reset covers (of this stream). */
  readonly channels: readonly string[];
  /** Why (from a bus, `unknown-id` means the store lost its data). */
  readonly reason: ResetReason;
  /** `stream` or `grip-hold` for a resume; `bus` when a shared bus could not deliver events it lost. */
  readonly via: ResetVia;
}

/** `express-eventstream:slow-drop` */
export interface SlowDropMessage extends DiagnosticsSource {
  readonly channels: readonly string[];
  /**
   * Bytes waiting for the client when it was dropped (socket buffer plus live events held during a
   * replay). Below `maxBufferBytes` when the client was dropped for not taking its replay within
   * `replayTimeoutMs`.
   */
  readonly bufferedBytes: number;
  readonly maxBufferBytes: number;
}

/** How one GRIP publish request ended. */
export type GripAttemptOutcome = 'ok' | 'http-error' | 'network-error' | 'timeout' | 'aborted';

/** Fields of every GRIP message. */
export interface GripMessageBase extends DiagnosticsSource {
  /** The proxy's publish endpoint, without query string (no credentials). */
  readonly proxy: string;
}

/** `express-eventstream:grip:attempt` */
export interface GripAttemptMessage extends GripMessageBase {
  /** 1 for the first try of a request body, 2 for the first retry, … */
  readonly attempt: number;
  /** Items (events) in the request body. */
  readonly items: number;
  /** Size of the request body in bytes. */
  readonly bytes: number;
  readonly durationMs: number;
  readonly outcome: GripAttemptOutcome;
  /** HTTP status, when the proxy answered. */
  readonly status?: number;
  /** What went wrong (absent on success). */
  readonly detail?: string;
}

/** `express-eventstream:grip:retry` */
export interface GripRetryMessage extends GripMessageBase {
  /** The attempt that failed. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly detail: string;
}

/** `express-eventstream:grip:failure` */
export interface GripFailureMessage extends GripMessageBase {
  readonly attempts: number;
  readonly outcome: Exclude<GripAttemptOutcome, 'ok'> | 'closed';
  /** The `GripPublishError` the publish rejects with. */
  readonly error: Error;
}

/** `express-eventstream:grip:sig-rejected` */
export interface GripSigRejectedMessage extends DiagnosticsSource {
  /** Why, e.g. `invalid Grip-Sig: signature does not verify`. */
  readonly reason: string;
  /** True when the signature itself does not verify: most often the proxy signs with another key. */
  readonly keyMismatch: boolean;
}

/** `express-eventstream:store-error` */
export interface StoreErrorMessage extends DiagnosticsSource {
  readonly operation: 'append' | 'read';
  /** The `EventStoreError` (its `cause` is what the store threw). */
  readonly error: Error;
}

/** `express-eventstream:refuse` */
export interface RefuseMessage extends DiagnosticsSource {
  /** The HTTP status answered (or the status of the `stream-error` an EventSource client got). */
  readonly status: number;
  /** The answer's text, e.g. `Bad Request: too many channels`. */
  readonly reason: string;
  readonly method: string;
  /** The request's path without its query string (which may carry tokens). */
  readonly path: string;
  readonly remoteAddress?: string | undefined;
}

/** Message type of each channel, by its key in `DIAGNOSTICS_CHANNELS`. */
export interface DiagnosticsMessages {
  publish: PublishMessage;
  deliver: DeliverMessage;
  connect: ConnectMessage;
  disconnect: DisconnectMessage;
  replay: ReplayMessage;
  reset: ResetMessage;
  slowDrop: SlowDropMessage;
  gripAttempt: GripAttemptMessage;
  gripRetry: GripRetryMessage;
  gripFailure: GripFailureMessage;
  gripSigRejected: GripSigRejectedMessage;
  storeError: StoreErrorMessage;
  refuse: RefuseMessage;
}

/** A channel whose `publish` takes only its documented message type. */
export interface TypedChannel<T> {
  readonly hasSubscribers: boolean;
  publish(message: T): void;
}

type Channels = { readonly [K in keyof DiagnosticsMessages]: TypedChannel<DiagnosticsMessages[K]> };

function makeChannels(): Channels {
  const out: Record<string, TypedChannel<unknown>> = {};
  for (const [key, name] of Object.entries(DIAGNOSTICS_CHANNELS)) out[key] = diagnosticsChannel.channel(name);
  return out as unknown as Channels;
}

/**
 * @internal The channel objects. Emit as one line:
 * `if (diag.connect.hasSubscribers) diag.connect.publish({ … })`.
 */
export const diag: Channels = makeChannels();

/**
 * Subscribe to one channel with its message type; returns the unsubscribe function.
 * `onDiagnostics('disconnect', (m) => console.log(m.reason))`.
 */
export function onDiagnostics<K extends keyof DiagnosticsMessages>(
  key: K,
  listener: (message: DiagnosticsMessages[K]) => void,
): () => void {
  const name = DIAGNOSTICS_CHANNELS[key];
  if (name === undefined) {
    throw new InvalidOptionError('channel', `unknown diagnostics channel '${String(key)}'`);
  }
  const fn = listener as (message: unknown, name: string | symbol) => void;
  diagnosticsChannel.subscribe(name, fn);
  return () => {
    diagnosticsChannel.unsubscribe(name, fn);
  };
}
