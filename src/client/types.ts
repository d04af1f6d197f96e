// The browser client's public types (re-exported by index.ts). Structural, with no DOM or Node
// type references, so the declarations compile in any TypeScript setup.

/** Maps event names to the type of their `data`: the same map you give the server's `events<M>()`. */
export type EventMap = Record<string, unknown>;

/**
 * Where the client is:
 * - `connecting`: the first connection is being made (nothing received yet);
 * - `open`: the server confirmed the subscription (`stream-open` received);
 * - `reconnecting`: the connection dropped and is being re-established (events are resumed);
 * - `closed`: `close()` was called;
 * - `error`: the server refused the stream (`stream-error`), or, with `retry: false`, the browser
 *   gave up on the connection; see `client.error`. No more requests.
 */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed' | 'error';

/** The reason the server gave in `stream-error` (e.g. `bad-request`, `forbidden`). */
export interface StreamError {
  readonly condition: string;
  /** The server's text; for a refused response of the fetch transport, its body (at most 1024 characters). */
  readonly text: string;
  /** The HTTP status of a refused response (fetch transport only: EventSource does not tell). */
  readonly status?: number;
}

/**
 * Why the stream could not resume: the app should reload the state of the named channels.
 * `expired`, `unknown-id` and `malformed-id` come from the server's `stream-reset`; the client
 * says `malformed-id` too when the id it had (stored or given) is no usable id, and
 * `refused-id` when the server refused every resume with its id (see `connect()`). In both it
 * drops the id and opens a fresh stream.
 */
export type ResetReason = 'expired' | 'unknown-id' | 'malformed-id' | 'refused-id';

/**
 * Longest event id (UTF-16 code units) the client stores and sends, the same cap the server
 * applies to the ids it publishes and resumes from (`MAX_EVENT_ID_LENGTH` of `express-eventstream`).
 */
export const MAX_EVENT_ID_LENGTH = 2048;

/** Events the client handles itself; they never reach application handlers. */
export type ProtocolEvent = 'stream-open' | 'stream-error' | 'stream-reset' | 'keep-alive';

/** Event names an application can handle: every name of the map except the protocol's own. */
export type EventName<M extends object> = Exclude<keyof M & string, ProtocolEvent>;

/** What a handler learns besides `data`. */
export interface EventDetails<K extends string = string> {
  /** The event name. */
  readonly event: K;
  /**
   * The event's id (`<epoch>-<seq>`). Without history the server may send events without ids;
   * then this is the last id the stream carried (EventSource's `lastEventId`), if any.
   */
  readonly id: string | undefined;
  /** The data exactly as received, before JSON parsing. */
  readonly rawData: string;
}

/** Handler for one event name; `data` is typed by the event map. */
export type EventHandler<M extends object, K extends EventName<M>> = (
  data: M[K],
  details: EventDetails<K>,
) => void;

/** Handlers per event name, typed by the event map. */
export type EventHandlers<M extends object> = { [K in EventName<M>]?: EventHandler<M, K> };

/** The part of a MessageEvent the client reads. */
export interface MessageEventLike {
  readonly data: unknown;
  readonly lastEventId: string;
}

/** The part of EventSource the client uses (the browser's, or any implementation). */
export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: string, listener: (event: MessageEventLike) => void): void;
  close(): void;
}

export type EventSourceConstructor = new (
  url: string,
  init?: { withCredentials?: boolean },
) => EventSourceLike;

/** Request headers by name. */
export type RequestHeaders = Record<string, string>;

/** The part of AbortSignal the client uses. */
export interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void): void;
}

/** The part of a fetch Response the client reads. */
export interface ResponseLike {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  readonly body: {
    getReader(): { read(): Promise<{ done: boolean; value?: Uint8Array }> };
  } | null;
  text(): Promise<string>;
}

/** The fetch the client calls (the global one, or any implementation). */
export type FetchLike = (
  url: string,
  init: {
    headers: RequestHeaders;
    credentials: 'omit' | 'same-origin' | 'include';
    signal: unknown;
    cache: 'no-store';
  },
) => Promise<ResponseLike>;

/** The part of Web Storage the client uses for the last event id. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface ConnectOptions<M extends object = EventMap> {
  /** Channels to subscribe to, sent as repeated `?channel=` parameters. May be empty if `url` names them. */
  channels?: readonly string[];
  /** Handlers per event name. More can be added with `client.on()`. */
  on?: EventHandlers<M>;
  /**
   * Event names whose data is passed as the received string instead of being JSON-parsed
   * (events published with `raw: true`).
   */
  raw?: readonly EventName<M>[];
  /** The server confirmed the subscription. `replayed`: how many missed events follow it. */
  onOpen?: (info: { resumed: boolean; replayed: number }) => void;
  /**
   * The server could not replay everything since the last id for these channels
   * (history expired, server restarted, bad id): reload their state from the source of truth.
   */
  onReset?: (channels: string[], reason: ResetReason) => void;
  /** The server refused the stream (`stream-error`, or an HTTP refusal: see `retry`); the client has stopped. */
  onError?: (error: StreamError) => void;
  onStateChange?: (state: ConnectionState, previous: ConnectionState) => void;
  /**
   * Keep the last event id in sessionStorage so a page reload resumes where it left off
   * (default `true`). `false` turns it off; an object chooses the key or the storage.
   */
  persist?: boolean | { key?: string; storage?: StorageLike };
  /**
   * Resume after this id (`?lastEventId=`) when nothing is persisted. At most
   * `MAX_EVENT_ID_LENGTH` characters, no CR, LF or NUL, and not `error`.
   */
  lastEventId?: string;
  /** Send cookies on cross-origin requests (EventSource `withCredentials`; fetch `credentials: 'include'`). */
  withCredentials?: boolean;
  /**
   * `eventsource` (the default) or `fetch`: a `ReadableStream` parsed by the same rules, which can
   * send headers and report a refusal's status and body. `fetch` is chosen when `headers` or
   * `share` are given.
   */
  transport?: 'eventsource' | 'fetch';
  /**
   * Request headers (fetch transport), e.g. `{ authorization: 'Bearer …' }`. A function is called
   * before every connection, so a refreshed token is used on reconnects.
   */
  headers?: RequestHeaders | (() => RequestHeaders | Promise<RequestHeaders>);
  /** fetch `credentials` mode; default `include` with `withCredentials`, else `same-origin`. */
  credentials?: 'omit' | 'same-origin' | 'include';
  /** Aborting it closes the client, like `close()`. */
  signal?: AbortSignalLike;
  /**
   * One connection for all tabs of this origin with the same URL, whatever their channels (fetch
   * transport): one tab (elected by Web Locks) holds a stream on every tab's channels, tagged by
   * channel (`?channelField=1`) when the tabs' sets differ, and relays to the others
   * (BroadcastChannel); each tab handles its own channels' events. When it goes, another takes
   * over from the last id. Where a tagged stream is refused (a GRIP proxy), one shared stream per
   * distinct channel set. Without those APIs, one connection per tab.
   */
  share?: boolean;
  /** The fetch implementation; default: the global one. */
  fetch?: FetchLike;
  /**
   * When the browser gives up on the connection (an HTTP error status such as a proxy's 502, a
   * wrong content type), the client opens a new one after a delay that doubles from
   * `minDelayMs` (default 1000) up to `maxDelayMs` (default 30000), resuming from the last id.
   * `false`: stay in `error` instead (with condition `connection-failed`). With the fetch
   * transport, a refusal no retry can help (401, 403; any other 4xx or 204 without an id to
   * resume from) stops the client too, with the status and body in `onError`.
   */
  retry?: false | { minDelayMs?: number; maxDelayMs?: number };
  /** The EventSource implementation; default: the global one. Pass one in Node or for a polyfill. */
  EventSource?: EventSourceConstructor;
}

export interface EventStreamClient<M extends object = EventMap> {
  /** The current connection state. */
  readonly state: ConnectionState;
  /** The id of the last event received (persisted unless `persist: false`). */
  readonly lastEventId: string | undefined;
  /** Why the client stopped, in state `error`. */
  readonly error: StreamError | undefined;
  /** Adds a handler; returns a function that removes it. */
  on<K extends EventName<M>>(event: K, handler: EventHandler<M, K>): () => void;
  /** Closes the connection for good (state `closed`). The persisted id is kept. */
  close(): void;
}
