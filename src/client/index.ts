// The browser client (`express-eventstream/client`): speaks this library's protocol over
// EventSource or fetch so applications do not each rewrite it: stop on `stream-error`, hand
// `stream-reset` to the app, ignore `keep-alive`, parse JSON data, remember the last event id
// across page reloads, and optionally share one connection between the tabs of a browser.
//
// Zero dependencies and no Node or DOM type references: the globals it needs are reached through
// `globalThis` with minimal structural types, so the declarations work in any TypeScript setup
// and the code runs in browsers, workers, Deno, or Node.
import { persistence, type StorageGlobals } from './persistence.js';
import { isAfter, joinGroup, type ShareGlobals } from './share.js';
import { type Emit, ERROR, eventSourceOpener, fetchOpener, type Source } from './sources.js';
import {
  type ConnectionState,
  type ConnectOptions,
  type EventDetails,
  type EventHandler,
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

/**
 * An id the client can resume from: the server never sends a longer one, `error` marks a
 * `stream-error` (a resume with it is answered 204), and EventSource drops line breaks and NUL.
 */
const usableId = (id: unknown): id is string =>
  // 2048: MAX_EVENT_ID_LENGTH.
  typeof id === 'string' && /^(?!error$)[^\r\n\0]{1,2048}$/.test(id);

/** A JSON object's field, or undefined (for anything that is not a JSON object). */
function field(data: string, name: string): unknown {
  try {
    return Object(JSON.parse(data))[name];
  } catch {}
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
  // A missing global: say which option provides it.
  const need = (name: string): never => fail(`no ${name}; pass options.${name}`);
  const withCredentials = options.withCredentials === true;
  const opener =
    (options.transport ?? (options.headers || options.share ? 'fetch' : 0)) === 'fetch'
      ? fetchOpener(
          options.fetch ?? g.fetch?.bind(g) ?? need('fetch'),
          options.headers,
          options.credentials ?? (withCredentials ? 'include' : 'same-origin'),
        )
      : eventSourceOpener(options.EventSource ?? g.EventSource ?? need('EventSource'), withCredentials);
  const channels = options.channels ?? [];
  if (!Array.isArray(channels) || !channels.every((c) => c && typeof c === 'string')) {
    fail('channels: an array of non-empty strings');
  }
  const base = new URL(typeof url === 'string' ? url : url.href, g.location?.href);
  const query = base.searchParams;
  for (const channel of channels) query.append('channel', channel);
  query.delete('lastEventId');
  const subscribed = [...new Set(query.getAll('channel'))];
  const rawNames = new Set<string>(options.raw);
  const retry = options.retry !== false && { minDelayMs: 1000, maxDelayMs: 30_000, ...options.retry };
  if (retry && !(retry.minDelayMs > 0 && retry.maxDelayMs >= retry.minDelayMs)) {
    fail('retry: 0 < minDelayMs <= maxDelayMs');
  }
  if (options.lastEventId && !usableId(options.lastEventId)) {
    fail(`lastEventId: 1-${MAX_EVENT_ID_LENGTH} characters, no CR, LF, NUL, not "error"`);
  }
  // One key per stream: the URL without its channels, plus the channels in a stable order.
  const keyUrl = new URL(base.href);
  keyUrl.searchParams.delete('channel');
  const streamKey = `${keyUrl.href} ${JSON.stringify([...subscribed].sort())}`;
  const [stored, save] = persistence(options.persist, g, streamKey);
  let lastEventId = stored ?? (options.lastEventId || undefined);
  if (stored && !usableId(stored)) {
    // Stored by an older client or another script: resuming with it could never succeed.
    lastEventId = undefined;
    save('');
    queueMicrotask(() => options.onReset?.(subscribed, 'malformed-id'));
  }
  // Connections in a row that the server refused before `stream-open` while the id was sent.
  let refusals = 0;
  let state: ConnectionState = 'connecting';
  let error: StreamError | undefined;
  let source: Source | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let retryDelay = 0;
  // Stored untyped: `on()` is where the event map's types are checked.
  // No prototype: any event name is a plain key.
  const handlers: Record<string, Set<AnyHandler>> = Object.create(null);

  const setState = (next: ConnectionState): void => {
    const previous = state;
    state = next;
    if (next !== previous) options.onStateChange?.(next, previous);
  };

  // Ids are remembered before handlers run, so a reload right after an event resumes after it.
  const remember = (id: string): void => {
    if (id === lastEventId || !usableId(id)) return;
    lastEventId = id;
    save(id);
  };

  const drop = (): void => {
    source?._close();
    source = undefined;
    clearTimeout(retryTimer);
  };

  // close(), or an error (`reason`): the client is done.
  const shutdown = (reason?: StreamError): void => {
    save();
    drop();
    group?._close();
    error = reason;
    setState(reason ? 'error' : 'closed');
    if (reason) options.onError?.(reason);
  };

  const handle: Emit = (name, data, id, status, own, channel) => {
    // A shared stream carries the events of every tab's channels.
    if (channel !== undefined && !subscribed.includes(channel)) return;
    if (name === 'stream-open') {
      // On a shared stream only an id of the stream-open itself is this tab's position, or the
      // group's for a tab that has none yet.
      if (own || !group || !lastEventId) remember(id);
      refusals = retryDelay = 0;
      const replayed = field(data, 'replayed');
      setState('open');
      options.onOpen?.({ resumed: data !== '', replayed: typeof replayed === 'number' ? replayed : 0 });
    } else if (name === 'stream-error') {
      // Its id is the literal "error": never a position to resume from.
      const condition = field(data, 'condition');
      const text = field(data, 'text');
      // The server's history is unreachable for now: the stream ends and the source reconnects
      // after the retry it was sent, from its last id (the error report says 'reconnecting').
      if (group && condition === 'bad-request' && /channelField/.test(`${text}`)) {
        // A GRIP proxy cannot tag events with their channel: from now on this tab shares a
        // stream only with the tabs of the same channels (untagged), from its own position.
        group._close();
        group = join(streamKey);
        open();
      } else if (condition !== 'unavailable')
        shutdown({
          condition: typeof condition === 'string' ? condition : 'unknown',
          text: typeof text === 'string' ? text : data,
        });
    } else if (name === 'stream-reset') {
      remember(id);
      const names = field(data, 'channels');
      // On a shared stream: this tab's channels among them, if any.
      const mine = Array.isArray(names) ? names.filter((c) => subscribed.includes(c)) : [];
      if (mine.length) options.onReset?.(mine, String(field(data, 'reason')) as ResetReason);
    } else if (name === ERROR) {
      if (status === undefined) {
        // The source reconnects by itself, sending Last-Event-ID.
        setState('reconnecting');
      } else if (!retry || isFinal(status, lastEventId !== undefined)) {
        // The source gave up (an HTTP error status or a wrong content type).
        shutdown({
          condition: 'connection-failed',
          text: data || 'no event stream',
          ...(status > 0 && { status }),
        });
      } else {
        drop();
        setState('reconnecting');
        if (lastEventId && ++refusals >= RESUME_TRIES) {
          // The server keeps refusing this id (a 204, 400, 414 or 431 before any stream): drop
          // it, say so, and start fresh, rather than retry it forever.
          lastEventId = undefined;
          refusals = 0;
          save('');
          options.onReset?.(subscribed, 'refused-id');
        }
        retryDelay = Math.min(retryDelay * 2 || retry.minDelayMs, retry.maxDelayMs);
        retryTimer = setTimeout(open, retryDelay);
      }
    } else if (name !== 'keep-alive' && !(group && own && !isAfter(id, lastEventId))) {
      // An application event. A tab sharing a stream gets the events since its new leader's
      // position again after a failover: those it had are dropped.
      remember(id);
      const set = handlers[name];
      if (!set?.size) return;
      let parsed: unknown = data;
      if (!rawNames.has(name)) {
        try {
          // An event published without data arrives with empty data.
          parsed = data ? JSON.parse(data) : undefined;
        } catch {
          throw new SyntaxError(`event "${name}" is not JSON; list it in options.raw`);
        }
      }
      const details: EventDetails = { event: name, id: id || undefined, rawData: data };
      for (const handler of [...set]) handler(parsed, details);
    }
  };

  const open = (): void => {
    drop();
    // A shared stream: every tab's channels (each event tagged with its channel when the tabs'
    // sets differ), from the last id of the group's stream.
    const target = new URL(group ? keyUrl.href : base.href);
    const query = target.searchParams;
    const at = group?._at ?? lastEventId;
    if (group) {
      for (const channel of group._channels()) query.append('channel', channel);
      if (group._tag) query.set('channelField', '1');
    }
    if (at) query.set('lastEventId', at);
    // Reports of a replaced source are ignored; the leader's go to the other tabs first.
    const emit: Emit = (...report) => {
      if (source !== current) return;
      if (group?._leader) group._post(report);
      handle(...report);
    };
    const current = group && !group._leader ? group._follow(emit) : opener(target.href, emit);
    source = current;
    for (const name in handlers) current._listen?.(name);
  };

  const join = (name: string) =>
    joinGroup(g, `express-eventstream:${name}`, subscribed, lastEventId, open, () => state === 'open');
  let group = options.share ? join(keyUrl.href) : undefined;

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
      if (
        typeof handler !== 'function' ||
        typeof name !== 'string' ||
        /^(stream-(open|error|reset)|keep-alive)$/.test(name)
      ) {
        throw new TypeError(`on("${String(name)}"): needs an app event name and a function`);
      }
      let set = handlers[name];
      if (!set) {
        set = handlers[name] = new Set();
        source?._listen?.(name);
      }
      const entry = handler as unknown as AnyHandler;
      set.add(entry);
      return () => {
        set.delete(entry);
      };
    },
    close() {
      if (state !== 'closed' && state !== 'error') shutdown();
    },
  };

  for (const [name, handler] of Object.entries(options.on ?? {})) {
    if (handler) client.on(name as EventName<M>, handler as EventHandler<M, EventName<M>>);
  }
  options.signal?.addEventListener('abort', client.close);
  if (options.signal?.aborted) client.close();
  else open();
  return client;
}

/**
 * A refused response no retry can help: authorization, or any other 4xx (but 408 and 429) or a
 * 204 when no id was sent (with one, the id may be what is refused: see RESUME_TRIES).
 */
const isFinal = (status: number, idSent: boolean): boolean =>
  (idSent ? /^40[13]$/ : /^(204|4(?!08|29)\d\d)$/).test(`${status}`);
