/** Why a connection ended: the client left, it was too slow, or the server closed it. */
export type DisconnectReason = 'client' | 'slow' | 'server' | 'token-expired' | 'revoked';

/**
 * Who a stream's subscriber is, from the verified token (`authorize: tokens(...)`): given to
 * `channels()`, and carried by the `connect`/`disconnect` events and diagnostics messages.
 */
export interface StreamIdentity {
  /** The token's `sub`. */
  readonly sub: string | undefined;
  /** The token's `jti` (what `revoke({ tokenId })` names). */
  readonly tokenId: string | undefined;
  /** When the token expires (ms since the epoch): the stream ends then (`token-expired`). */
  readonly expiresAt: number;
  /** The channel patterns the token grants, `{sub}` already replaced. */
  readonly channels: readonly string[];
  /** Every verified claim of the token (never the token itself). */
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * Why a `stream-reset` was sent: `expired` (events left the history), `unknown-id` (another
 * epoch, or a future id), `malformed-id` (a Last-Event-ID this server never writes).
 */
export type ResetReason = 'expired' | 'unknown-id' | 'malformed-id';

/**
 * Maps event names to the type of their `data`. Declare one to make `publish()` check `data`
 * per event name; the default accepts any name and any data.
 */
export type EventMap = Record<string, unknown>;

/** Fields every event may carry besides its name and data. */
export interface EventFields {
  /**
   * The SSE `id:` line. Must not contain CR, LF or NUL. An empty string resets the client's
   * last event id.
   */
  id?: string;
  /** The SSE `retry:` line: the client's reconnection delay in ms (a non-negative integer). */
  retry?: number;
  /**
   * When true, `data` must be a string and is written verbatim (split into `data:` lines on
   * CR, LF and CRLF) instead of being JSON-encoded.
   */
  raw?: boolean;
}

/** An event as passed to `publish()`: `{ event?, data?, id?, retry?, raw? }`. */
export type EventInput<M extends object = EventMap> =
  | { [K in keyof M & string]: EventFields & { event: K; data?: M[K] } }[keyof M & string]
  | ('message' extends keyof M ? EventFields & { event?: undefined; data?: M['message'] } : never);

/** One published event after validation and encoding; encoded exactly once. */
export interface EncodedEvent {
  /** The channel it was published on (without any GRIP prefix). */
  readonly channel: string;
  /** The SSE id written on the wire, if any. */
  readonly id: string | undefined;
  /** Position in the event history (undefined when history is off). */
  readonly seq?: number | undefined;
  /** Id of the previous event on the same channel (history on), for GRIP `prev-id`. */
  readonly prevId?: string | undefined;
  /** The event name, if any (`message` when absent). */
  readonly event: string | undefined;
  /** The complete SSE text of the event, ending in a blank line. */
  readonly text: string;
  /** `text` as UTF-8 bytes: the same buffer is written to every subscriber. */
  readonly bytes: Buffer;
}

/**
 * Somewhere published events go besides the local connections: a GRIP proxy, a store.
 * `publish()` of the Events object settles once every sink has settled for the event's batch.
 */
export interface EventSink {
  publish(batch: readonly EncodedEvent[]): Promise<void>;
  close?(): Promise<void> | void;
}

/** Counters and gauges from `events.stats()`. */
export interface EventsStats {
  /** Open direct connections. */
  connections: number;
  /** Open direct connections per channel. */
  subscribers: Record<string, number>;
  /** Connections opened since creation. */
  connectionsOpened: number;
  /** Events accepted by `publish()`. */
  eventsPublished: number;
  /** Event deliveries to direct connections (one event to three clients counts three). */
  eventsDelivered: number;
  /** Bytes written to direct connections, keep-alives included. */
  bytesDelivered: number;
  /** Connections cut off because their outbound buffer passed `maxBufferBytes`. */
  slowClientsDropped: number;
  /** `publish()` calls that rejected (invalid events, sink failures). */
  publishErrors: number;
  /** Stored events sent to resuming clients. */
  eventsReplayed: number;
  /** `stream-reset` events sent. */
  streamResets: number;
}

/** Passed to `connect` and `disconnect` listeners. */
export interface ConnectionInfo {
  channels: readonly string[];
  /** The subscriber's verified identity, for streams opened with a token. */
  identity?: StreamIdentity | undefined;
}

export interface DisconnectInfo extends ConnectionInfo {
  /**
   * `client` went away, `slow` was dropped for its buffer, `server` closed it (`events.close()`),
   * `token-expired` reached its token's `exp`, `revoked` matched `events.revoke()`.
   */
  reason: DisconnectReason;
}

/** Context passed to `error` listeners. */
export interface ErrorContext {
  channel?: string;
  event?: unknown;
}

/** The events an `Events` namespace emits: `connect`, `disconnect` and `error` (a listener or store failure). */
export interface EventsEvents {
  connect: [info: ConnectionInfo];
  disconnect: [info: DisconnectInfo];
  error: [error: Error, context: ErrorContext];
}
