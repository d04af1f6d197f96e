// The browser client (`express-eventstream/client`): speaks this library's protocol over
// EventSource or fetch so applications do not each rewrite it: stop on `stream-error`, hand
// `stream-reset` to the app, ignore `keep-alive`, parse JSON data, remember the last event id
// across page reloads, and optionally share one connection between the tabs of a browser.
//
// Zero dependencies and no Node or DOM type references: the globals it needs are reached through
// `globalThis` with minimal structural types, so the declarations work in any TypeScript setup
// and the code runs in browsers, workers, Deno, or Node.
import { persistence, type StorageGlobals } from './persistence.js';
import { joinGroup, type ShareGlobals } from './share.js';
import { type Emit, ERROR, eventSourceOpener, fetchOpener, type Source } from './sources.js';
import {
  type ConnectionState,
  type ConnectOptions,
  type EventDetails,
  type EventHandlers,
  type EventMap,
  type EventName,
  type EventSourceConstructor,
  type EventStreamClient,
  type FetchLike,
  MAX_EVENT_ID_LENGTH,
  type ResetReason,
  type StreamError,
} from './types.js';

export * from './types.js';

/** Refused connections in a row, each carrying the id, after which the id is dropped. */
const RESUME_TRIES = 3;
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

/**
 * Whether `id` comes after `last`: `<epoch>-<seq>` ids of one epoch compare by seq; any other
 * pair differs or not. Tabs sharing a stream drop what they already had after a failover.
 */
function isAfter(id: string, last: string | undefined): boolean {
  const [epoch, seq] = id.split(/-(?=\d+$)/);
  const [lastEpoch, lastSeq] = last?.split(/-(?=\d+$)/) ?? [];
  return seq === undefined || lastSeq === undefined || epoch !== lastEpoch ? id !== last : +seq > +lastSeq;
}

/**
 * A refused response no retry can help: authorization, or any other 4xx (but 408 and 429) or a
 * 204 when no id was sent (with one, the id may be what is refused: see RESUME_TRIES).
 */
function isFinal(status: number, idSent: boolean): boolean {
  return (
    status === 401 ||
    status === 403 ||
    (!idSent && (status === 204 || (status >= 400 && status < 500 && status !== 408 && status !== 429)))
  );
}

type AnyHandler = (data: unknown, details: EventDetails) => void;

interface BrowserGlobals extends StorageGlobals, ShareGlobals {
  EventSource?: EventSourceConstructor;
  fetch?: FetchLike;
  location?: { href: string };
}

/**
 * Opens an event stream: `connect<AppEvents>('/events/', { channels: ['clock'], on: { time: (d) => … } })`.
 * Throws a TypeError for invalid arguments or when no EventSource (or fetch) is available.
 */
export function connect<M extends object = EventMap>(
  url: string | { href: string },
  options: ConnectOptions<M> = {},
): EventStreamClient<M> {
  const g = globalThis as unknown as BrowserGlobals;
  const fail = (text: string): never => {
    throw new TypeError(`connect(): ${text}`);
  };
  const useFetch =
    (options.transport ?? (options.headers || options.share ? 'fetch' : 'eventsource')) === 'fetch';
  const withCredentials = options.withCredentials === true;
  const fetchImpl = options.fetch ?? g.fetch?.bind(g);
  const opener = useFetch
    ? fetchOpener(
        fetchImpl ?? fail('no fetch in this environment; pass options.fetch'),
        options.headers,
        options.credentials ?? (withCredentials ? 'include' : 'same-origin'),
      )
    : eventSourceOpener(
        options.EventSource ??
          g.EventSource ??
          fail('no EventSource in this environment; pass options.EventSource'),
        withCredentials,
      );
  const channels = options.channels ?? [];
  if (!Array.isArray(channels) || channels.some((c) => typeof c !== 'string' || c === '')) {
    fail('channels must be an array of non-empty strings');
  }
  const base = new URL(typeof url === 'string' ? url : url.href, g.location?.href);
  for (const channel of channels) base.searchParams.append('channel', channel);
  base.searchParams.delete('lastEventId');
  const rawNames = new Set<string>(options.raw ?? []);
  const retry =
    options.retry === false ? undefined : { minDelayMs: 1000, maxDelayMs: 30_000, ...options.retry };
  if (retry !== undefined && !(retry.minDelayMs > 0 && retry.maxDelayMs >= retry.minDelayMs)) {
    fail('retry needs 0 < minDelayMs <= maxDelayMs');
  }
  if (options.lastEventId !== undefined && options.lastEventId !== '' && !usableId(options.lastEventId)) {
    fail(
      `lastEventId must be at most ${MAX_EVENT_ID_LENGTH} characters without CR, LF or NUL, and not "error"`,
    );
  }
  const subscribed = [...new Set(base.searchParams.getAll('channel'))];
  // One key per stream: the URL without its channels, plus the channels in a stable order.
  const keyUrl = new URL(base.href);
  keyUrl.searchParams.delete('channel');
  const streamKey = `${keyUrl.href} ${JSON.stringify([...subscribed].sort())}`;
  const storage = persistence(options.persist, g, streamKey);
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
  let source: Source | undefined;
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
    group?.close();
    clearTimeout(retryTimer);
  };

  const dispatch = (name: string, rawData: string, id: string, own: boolean | undefined): void => {
    // A tab sharing a stream gets the events since its new leader's position again after a failover.
    if (group !== undefined && own === true && !isAfter(id, lastEventId)) return;
    remember(id);
    const set = handlers.get(name);
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
    const details: EventDetails = { event: name, id: id || undefined, rawData };
    for (const handler of [...set]) handler(data, details);
  };

  const handle: Emit = (name, data, id, status, own) => {
    if (name === 'stream-open') {
      remember(id);
      refusals = 0;
      retryDelay = retry?.minDelayMs ?? 0;
      const replayed = parseObject(data)?.replayed;
      setState('open');
      options.onOpen?.({ resumed: data !== '', replayed: typeof replayed === 'number' ? replayed : 0 });
    } else if (name === 'stream-error') {
      // Its id is the literal "error": never a position to resume from.
      const body = parseObject(data);
      // The server's history is unreachable for now: the stream ends and the source reconnects
      // after the retry it was sent, from its last id (the error report says 'reconnecting').
      if (body?.condition === 'unavailable') return;
      stop({
        condition: typeof body?.condition === 'string' ? body.condition : 'unknown',
        text: typeof body?.text === 'string' ? body.text : data,
      });
    } else if (name === 'stream-reset') {
      remember(id);
      const body = parseObject(data);
      const resetChannels = Array.isArray(body?.channels) ? body.channels.filter(isString) : [];
      options.onReset?.(resetChannels, String(body?.reason) as ResetReason);
    } else if (name !== ERROR) {
      if (name !== 'keep-alive') dispatch(name, data, id, own);
    } else if (status === undefined) {
      // The source reconnects by itself, sending Last-Event-ID.
      setState('reconnecting');
    } else if (retry === undefined || isFinal(status, lastEventId !== undefined)) {
      // The source gave up (an HTTP error status or a wrong content type).
      stop({
        condition: 'connection-failed',
        text: data || 'the server did not answer with an event stream',
        ...(status > 0 && { status }),
      });
    } else {
      source?.close();
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
    }
  };

  const open = (): void => {
    source?.close();
    clearTimeout(retryTimer);
    const target = new URL(base.href);
    if (lastEventId !== undefined) target.searchParams.set('lastEventId', lastEventId);
    // Reports of a replaced source are ignored.
    const emit: Emit = (...report) => {
      if (source === current) handle(...report);
    };
    const current =
      group && !group.leader ? group.follow(emit) : opener(target.href, group ? group.tee(emit) : emit);
    source = current;
    for (const name of handlers.keys()) current.listen?.(name);
  };

  const group = options.share
    ? joinGroup(g, `express-eventstream:${streamKey}`, open, () =>
        state === 'open' ? ['stream-open', '', lastEventId ?? '', undefined, false] : undefined,
      )
    : undefined;

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
      if (typeof name !== 'string' || /^(stream-(open|error|reset)|keep-alive)$/.test(name)) {
        throw new TypeError(`on(): "${String(name)}" is not an application event name`);
      }
      if (typeof handler !== 'function') throw new TypeError('on(): the handler must be a function');
      let set = handlers.get(name);
      if (set === undefined) {
        set = new Set();
        handlers.set(name, set);
        source?.listen?.(name);
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
  options.signal?.addEventListener('abort', client.close);
  if (options.signal?.aborted) client.close();
  else open();
  return client;
}

function parseObject(data: string): Record<string, unknown> | undefined {
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
