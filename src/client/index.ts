// The browser client (`express-eventstream/client`): a thin layer over EventSource that speaks
// this library's protocol so applications do not each rewrite it: stop on `stream-error`, hand
// `stream-reset` to the app, ignore `keep-alive`, parse JSON data, and remember the last event
// id across page reloads so a reload resumes from the server's history instead of losing events.
//
// Zero dependencies and no Node or DOM type references: the globals it needs (EventSource,
// sessionStorage, location) are reached through `globalThis` with minimal structural types, so
// the declarations work in any TypeScript setup and the file runs in browsers, workers, Deno,
// or Node with an EventSource implementation passed in.

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
  readonly text: string;
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
  /** The server refused the stream (`stream-error`); the client has stopped. */
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
  /** Send cookies on cross-origin requests (EventSource `withCredentials`). */
  withCredentials?: boolean;
  /**
   * When the browser gives up on the connection (an HTTP error status such as a proxy's 502, a
   * wrong content type), the client opens a new one after a delay that doubles from
   * `minDelayMs` (default 1000) up to `maxDelayMs` (default 30000), resuming from the last id.
   * `false`: stay in `error` instead (with condition `connection-failed`).
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

const PROTOCOL_EVENTS: ReadonlySet<string> = new Set([
  'stream-open',
  'stream-error',
  'stream-reset',
  'keep-alive',
]);
const STORAGE_PREFIX = 'express-eventstream:last-event-id:';
const CLOSED = 2;
/** Refused connections in a row, each carrying the id, after which the id is dropped. */
const RESUME_TRIES = 3;
/** How long a persisted id may wait before it is written (visible pages; hidden ones write at once). */
const WRITE_DELAY_MS = 50;
const ID_FORBIDDEN = /[\r\n\0]/;

/**
 * An id the client can resume from: the server never sends a longer one, `error` marks a
 * `stream-error` (a resume with it is answered 204), and EventSource drops line breaks and NUL.
 */
function usableId(id: unknown): id is string {
  return (
    typeof id === 'string' &&
    id !== '' &&
    id.length <= MAX_EVENT_ID_LENGTH &&
    id !== 'error' &&
    !ID_FORBIDDEN.test(id)
  );
}

type AnyHandler = (data: unknown, details: EventDetails) => void;

interface BrowserGlobals {
  EventSource?: EventSourceConstructor;
  location?: { href: string };
  sessionStorage?: StorageLike;
  document?: { readonly visibilityState?: string };
  addEventListener?: (type: string, listener: () => void) => void;
  removeEventListener?: (type: string, listener: () => void) => void;
}

/**
 * Opens an event stream: `connect<AppEvents>('/events/', { channels: ['clock'], on: { time: (d) => … } })`.
 * Throws a TypeError for invalid arguments or when no EventSource is available.
 */
export function connect<M extends object = EventMap>(
  url: string | { href: string },
  options: ConnectOptions<M> = {},
): EventStreamClient<M> {
  const g = globalThis as BrowserGlobals;
  const EventSourceImpl = options.EventSource ?? g.EventSource;
  if (typeof EventSourceImpl !== 'function') {
    throw new TypeError('connect(): no EventSource in this environment; pass options.EventSource');
  }
  const channels = options.channels ?? [];
  if (!Array.isArray(channels) || channels.some((c) => typeof c !== 'string' || c === '')) {
    throw new TypeError('connect(): channels must be an array of non-empty strings');
  }
  const base = new URL(typeof url === 'string' ? url : url.href, g.location?.href);
  for (const channel of channels) base.searchParams.append('channel', channel);
  base.searchParams.delete('lastEventId');
  const rawNames = new Set<string>(options.raw ?? []);
  const retry =
    options.retry === false ? undefined : { minDelayMs: 1000, maxDelayMs: 30_000, ...options.retry };
  if (retry !== undefined && !(retry.minDelayMs > 0 && retry.maxDelayMs >= retry.minDelayMs)) {
    throw new TypeError('connect(): retry needs 0 < minDelayMs <= maxDelayMs');
  }

  if (options.lastEventId !== undefined && options.lastEventId !== '' && !usableId(options.lastEventId)) {
    throw new TypeError(
      `connect(): lastEventId must be at most ${MAX_EVENT_ID_LENGTH} characters without CR, LF or NUL, and not "error"`,
    );
  }
  const subscribed = [...new Set(base.searchParams.getAll('channel'))];
  const storage = persistence(options.persist, g, base);
  const stored = storage.load();
  let lastEventId = stored ?? (options.lastEventId || undefined);
  if (stored !== undefined && !usableId(stored)) {
    // Stored by an older client or another script: resuming with it could never succeed.
    lastEventId = undefined;
    storage.remove();
    queueMicrotask(() => options.onReset?.(subscribed, 'malformed-id'));
  }
  // Connections in a row that the server refused before `stream-open` while the id was sent.
  let refusals = 0;
  let state: ConnectionState = 'connecting';
  let error: StreamError | undefined;
  let source: EventSourceLike | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let retryDelay = retry?.minDelayMs ?? 0;
  // Stored untyped: `on()` is where the event map's types are checked.
  const handlers = new Map<string, Set<AnyHandler>>();

  const setState = (next: ConnectionState): void => {
    if (next === state) return;
    const previous = state;
    state = next;
    options.onStateChange?.(next, previous);
  };

  // Ids are remembered before handlers run, so a reload right after an event resumes after it.
  const remember = (id: string): void => {
    if (id === lastEventId || !usableId(id)) return;
    lastEventId = id;
    storage.save(id);
  };

  const stop = (reason: StreamError): void => {
    shutdown();
    error = reason;
    setState('error');
    options.onError?.(reason);
  };

  const shutdown = (): void => {
    storage.flush();
    source?.close();
    source = undefined;
    if (retryTimer !== undefined) clearTimeout(retryTimer);
    retryTimer = undefined;
  };

  const dispatch = (name: string, message: MessageEventLike): void => {
    const set = handlers.get(name);
    const rawData = typeof message.data === 'string' ? message.data : '';
    remember(message.lastEventId);
    if (set === undefined || set.size === 0) return;
    let data: unknown = rawData;
    if (!rawNames.has(name)) {
      try {
        // An event published without data arrives with empty data.
        data = rawData === '' ? undefined : JSON.parse(rawData);
      } catch {
        throw new SyntaxError(
          `express-eventstream/client: the data of event "${name}" is not JSON; list "${name}" in the raw option`,
        );
      }
    }
    const details: EventDetails = { event: name, id: message.lastEventId || undefined, rawData };
    for (const handler of [...set]) handler(data, details);
  };

  const listen = (es: EventSourceLike, name: string): void => {
    es.addEventListener(name, (message) => {
      if (es === source) dispatch(name, message);
    });
  };

  const open = (): void => {
    const target = new URL(base.href);
    if (lastEventId !== undefined) target.searchParams.set('lastEventId', lastEventId);
    const es = new EventSourceImpl(target.href, { withCredentials: options.withCredentials === true });
    source = es;
    es.addEventListener('stream-open', (message) => {
      if (es !== source) return;
      remember(message.lastEventId);
      refusals = 0;
      retryDelay = retry?.minDelayMs ?? 0;
      const replayed = parseObject(message.data)?.replayed;
      setState('open');
      const count = typeof replayed === 'number' ? replayed : 0;
      options.onOpen?.({ resumed: message.data !== '', replayed: count });
    });
    es.addEventListener('stream-error', (message) => {
      if (es !== source) return;
      // Its id is the literal "error": never a position to resume from.
      const body = parseObject(message.data);
      // The server's history is unreachable for now: the stream ends and EventSource reconnects
      // after the retry it was sent, from its last id (the 'error' event says 'reconnecting').
      if (body?.condition === 'unavailable') return;
      stop({
        condition: typeof body?.condition === 'string' ? body.condition : 'unknown',
        text: typeof body?.text === 'string' ? body.text : String(message.data),
      });
    });
    es.addEventListener('stream-reset', (message) => {
      if (es !== source) return;
      remember(message.lastEventId);
      const body = parseObject(message.data);
      const resetChannels = Array.isArray(body?.channels) ? body.channels.filter(isString) : [];
      options.onReset?.(resetChannels, String(body?.reason) as ResetReason);
    });
    es.addEventListener('error', () => {
      if (es !== source) return;
      if (es.readyState !== CLOSED) {
        // The browser reconnects by itself, sending Last-Event-ID.
        setState('reconnecting');
        return;
      }
      // The browser gave up (an HTTP error status or a wrong content type).
      if (retry === undefined) {
        stop({ condition: 'connection-failed', text: 'the server did not answer with an event stream' });
        return;
      }
      es.close();
      source = undefined;
      setState('reconnecting');
      if (lastEventId !== undefined && ++refusals >= RESUME_TRIES) {
        // The server keeps refusing this id (a 204, 400, 414 or 431 before any stream): drop
        // it, say so, and start fresh, rather than retry it forever.
        lastEventId = undefined;
        refusals = 0;
        storage.remove();
        options.onReset?.(subscribed, 'refused-id');
      }
      retryTimer = setTimeout(open, retryDelay);
      retryDelay = Math.min(retryDelay * 2, retry.maxDelayMs);
    });
    for (const name of handlers.keys()) listen(es, name);
  };

  const client: EventStreamClient<M> = {
    get state() {
      return state;
    },
    get lastEventId() {
      return lastEventId;
    },
    get error() {
      return error;
    },
    on(name, handler) {
      if (typeof name !== 'string' || PROTOCOL_EVENTS.has(name)) {
        throw new TypeError(`on(): "${String(name)}" is not an application event name`);
      }
      if (typeof handler !== 'function') throw new TypeError('on(): the handler must be a function');
      let set = handlers.get(name);
      if (set === undefined) {
        set = new Set();
        handlers.set(name, set);
        if (source !== undefined) listen(source, name);
      }
      const entry = handler as unknown as AnyHandler;
      set.add(entry);
      return () => {
        set.delete(entry);
      };
    },
    close() {
      if (state === 'closed' || state === 'error') return;
      shutdown();
      setState('closed');
    },
  };

  const initial: EventHandlers<M> = options.on ?? {};
  for (const name of Object.keys(initial) as EventName<M>[]) {
    const handler = initial[name];
    if (handler !== undefined) client.on(name, handler);
  }
  open();
  return client;
}

interface Persistence {
  load(): string | undefined;
  /** Remember `id`: written at once on a hidden page, else within WRITE_DELAY_MS. */
  save(id: string): void;
  /** Write what is pending now. */
  flush(): void;
  remove(): void;
}

/**
 * sessionStorage access that never throws (storage can be disabled, full or sandboxed). A write
 * costs far more than handling an event, so on a visible page the last id is written at most once
 * per WRITE_DELAY_MS, and at once when the page is hidden or left (`visibilitychange`,
 * `pagehide`, `freeze`): the page may be discarded while hidden, so then every id is written.
 */
function persistence(option: ConnectOptions['persist'], g: BrowserGlobals, base: URL): Persistence {
  const none: Persistence = { load: () => undefined, save: () => {}, flush: () => {}, remove: () => {} };
  if (option === false) return none;
  const custom = typeof option === 'object' ? option : {};
  let storage: StorageLike | undefined;
  try {
    storage = custom.storage ?? g.sessionStorage;
  } catch {
    return none;
  }
  if (storage === undefined) return none;
  // One key per stream: the URL without its channels, plus the channels in a stable order.
  const keyUrl = new URL(base.href);
  const channels = [...new Set(keyUrl.searchParams.getAll('channel'))].sort();
  keyUrl.searchParams.delete('channel');
  const key = custom.key ?? `${STORAGE_PREFIX}${keyUrl.href} ${JSON.stringify(channels)}`;
  const store = storage;
  // Without a page (a worker, Node) there is no lifecycle to flush on: write through.
  const paged = typeof g.document?.visibilityState === 'string' && typeof g.addEventListener === 'function';
  const hidden = (): boolean => g.document?.visibilityState !== 'visible';
  let pending: string | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let listening = false;
  const write = (run: () => void): void => {
    try {
      run();
    } catch {
      // Quota or privacy mode: resuming after a reload is lost, streaming is not.
    }
  };
  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (pending === undefined) return;
    const id = pending;
    pending = undefined;
    write(() => store.setItem(key, id));
  };
  const onHide = (): void => {
    if (hidden()) flush();
  };
  const LIFECYCLE: Array<[string, () => void]> = [
    ['visibilitychange', onHide],
    ['pagehide', flush],
    ['freeze', flush],
  ];
  return {
    load() {
      try {
        // Empty: removed (StorageLike has no removeItem) or never written.
        return store.getItem(key) || undefined;
      } catch {
        return undefined;
      }
    },
    save(id) {
      pending = id;
      if (!paged || hidden()) {
        flush();
        return;
      }
      if (!listening) {
        listening = true;
        for (const [type, fn] of LIFECYCLE) g.addEventListener?.(type, fn);
      }
      timer ??= setTimeout(flush, WRITE_DELAY_MS);
    },
    flush() {
      flush();
      if (!listening) return;
      listening = false;
      for (const [type, fn] of LIFECYCLE) g.removeEventListener?.(type, fn);
    },
    remove() {
      pending = undefined;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      write(() => store.setItem(key, ''));
    },
  };
}

function parseObject(data: unknown): Record<string, unknown> | undefined {
  if (typeof data !== 'string' || data === '') return undefined;
  try {
    const value: unknown = JSON.parse(data);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}
