// The Events namespace: validates and encodes each published event once, then hands each tick's
// batch to the local hub and to every sink (GRIP proxies, stores). This is the one place
// published events pass through.
import { EventEmitter } from 'node:events';
import { ServerResponse } from 'node:http';
import { Channel } from './channel.js';
import { assertChannelName, DEFAULT_MAX_CHANNEL_NAME_LENGTH } from './channel-name.js';
import {
  Connection,
  type ConnectionOwner,
  carriesEventStream,
  type DisconnectReason,
  Outgoing,
  resetSocket,
} from './connection.js';
import { startDebugLog } from './debug.js';
import { type DiagnosticsSource, diag, type ResumeVia } from './diagnostics.js';
import {
  assertEventId,
  assertEventName,
  assertRetry,
  dataToText,
  encodeComment,
  encodeFields,
} from './encoder.js';
import {
  EventStoreError,
  EventStreamError,
  EventsClosedError,
  EventTooLargeError,
  InvalidEventError,
  InvalidOptionError,
  ListenerError,
} from './errors.js';
import {
  createGripSink,
  type GripOption,
  type GripRetryOptions,
  type GripSettings,
  resolveGrip,
} from './grip/index.js';
import { randomRecoverySecret } from './grip/recovery.js';
import {
  formatId,
  openResume,
  planRecovery,
  planResume,
  type ResetReason,
  type ResumePlan,
} from './history.js';
import { Hub } from './hub.js';
import { assertGripKeys, assertKnownKeys } from './options.js';
import { MemoryStore, type MemoryStoreOptions } from './store/memory.js';
import type { EventStore } from './store/types.js';
import type { EncodedEvent, EventInput, EventMap, EventSink, HttpResponse } from './types.js';

export interface EventsOptions {
  /** Names this namespace in diagnostics messages, debug logs and metric labels. Default `'default'`. */
  name?: string;
  /** Prefix of GRIP channel names (`events-clock` for channel `clock`). Default `'events-'`. */
  prefix?: string;
  /** GRIP proxies to publish to: a GRIP_URL, an array of them, or objects. Default: none. */
  grip?: GripOption | undefined | null;
  /** Retry policy for publishing to GRIP proxies. */
  gripRetry?: GripRetryOptions;
  /** Silence in ms after which a keep-alive is sent; `false` disables. Default 20 000. */
  keepAlive?: number | false;
  /** `'event'` (default): `event: keep-alive` with empty data, visible to EventSource listeners. `'comment'`: a `:` line. */
  keepAliveFormat?: 'event' | 'comment';
  /**
   * Bound of each connection's backlog in bytes (written, not yet taken by the client); a client
   * whose backlog is beyond it when more is written is disconnected. Default 1 MiB.
   */
  maxBufferBytes?: number;
  /** Largest event `publish()` accepts, in bytes of its SSE text. Default: `maxBufferBytes`. */
  maxEventBytes?: number;
  /** Time a resuming client has to take its whole replay before it is dropped as slow. Default 30 000 ms. */
  replayTimeoutMs?: number;
  /** Most channels one request may subscribe to. Default 20 (Pushpin's own limit). */
  maxChannelsPerRequest?: number;
  /** Longest channel name. Default 128. */
  maxChannelNameLength?: number;
  /**
   * Event history, for lossless reconnection: an `EventStore`, options of the default in-memory
   * store, or `false` to turn ids and replay off. Default: in-memory, 1,000 events per channel.
   */
  history?: EventStore | MemoryStoreOptions | false;
  /**
   * GRIP reliable mode (needs history): holds carry each channel's `prev-id` and a signed
   * `Grip-Link` recovery URL, and published items carry `prev-id`, so the proxy notices a missed
   * item and fetches it from this endpoint. `secret` signs the recovery link; give every origin
   * process behind one proxy the same secret (default: random per process).
   */
  reliable?: boolean | { secret?: string | Uint8Array; linkTimeoutSec?: number };
}

/** Resolved reliable-mode settings. */
export interface ReliableSettings {
  secret: string | Uint8Array;
  linkTimeoutSec: number;
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
}

export interface DisconnectInfo extends ConnectionInfo {
  /** `client` went away, `slow` was dropped for its buffer, `server` closed it (`events.close()`). */
  reason: DisconnectReason;
}

/** Context passed to `error` listeners. */
export interface ErrorContext {
  channel?: string;
  event?: unknown;
}

export interface EventsEvents {
  connect: [info: ConnectionInfo];
  disconnect: [info: DisconnectInfo];
  error: [error: Error, context: ErrorContext];
}

/** Resolved, validated options. */
interface Settings {
  name: string;
  prefix: string;
  keepAliveMs: number | false;
  keepAliveText: string;
  maxBufferBytes: number;
  maxEventBytes: number;
  replayTimeoutMs: number;
  maxChannelsPerRequest: number;
  maxChannelNameLength: number;
  reliable: ReliableSettings | undefined;
}

/** A validated event waiting for its id: everything but the `id:` line is encoded. */
interface PendingEvent {
  channel: string;
  event: string | undefined;
  /** A caller-supplied id (history off only). */
  id: string | undefined;
  body: string;
}

interface Batch {
  events: PendingEvent[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  /** Settles (never rejects) once the batch was written to local subscribers or failed. */
  delivered: Promise<void>;
  markDelivered: () => void;
  settled: boolean;
  /** performance.now() at the batch's first publish, for the deliver diagnostics. */
  startedAt: number;
}

/** What `publishTracked()` returns: the publish's promise, and when local delivery happened. */
export interface TrackedPublish {
  done: Promise<void>;
  delivered: Promise<void>;
}

/**
 * Mark a promise as handled without changing what it settles to: whoever awaits it still sees
 * the rejection, but nobody has to, so a fire-and-forget publish can never become an
 * unhandled rejection (which ends the process).
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

const SETTLED = Promise.resolve();

const EVENT_KEYS = new Set(['event', 'data', 'id', 'retry', 'raw']);
const STREAM_OPEN = encodeFields({ event: 'stream-open' });
const DEFAULT_KEEP_ALIVE_MS = 20_000;

function positiveInteger(options: EventsOptions, key: keyof EventsOptions, fallback: number): number {
  const value = options[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(key, `${key} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Every key `events()` accepts; anything else is refused, naming the closest of these. */
const EVENTS_OPTION_KEYS = [
  'prefix',
  'grip',
  'gripRetry',
  'keepAlive',
  'keepAliveFormat',
  'maxBufferBytes',
  'maxChannelsPerRequest',
  'maxChannelNameLength',
  'maxEventBytes',
  'replayTimeoutMs',
  'history',
  'reliable',
  'name',
] as const satisfies ReadonlyArray<keyof EventsOptions>;

function resolveSettings(options: EventsOptions): Settings {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', 'events() options must be an object');
  }
  assertKnownKeys(options, EVENTS_OPTION_KEYS);
  assertGripKeys(options.grip);
  if (options.gripRetry !== null && typeof options.gripRetry === 'object') {
    assertKnownKeys(options.gripRetry, ['retries', 'minDelayMs', 'maxDelayMs', 'timeoutMs'], 'gripRetry.');
  }
  const prefix = options.prefix ?? 'events-';
  if (typeof prefix !== 'string') throw new InvalidOptionError('prefix', 'prefix must be a string');
  // The prefix ends up in Grip-Channel next to validated names: same character rules (empty allowed).
  if (prefix !== '') assertChannelName(prefix, 64);
  const keepAliveMs =
    options.keepAlive === false ? false : positiveInteger(options, 'keepAlive', DEFAULT_KEEP_ALIVE_MS);
  const format = options.keepAliveFormat ?? 'event';
  if (format !== 'event' && format !== 'comment') {
    throw new InvalidOptionError('keepAliveFormat', "keepAliveFormat must be 'event' or 'comment'");
  }
  const maxChannelsPerRequest = positiveInteger(options, 'maxChannelsPerRequest', 20);
  const maxBufferBytes = positiveInteger(options, 'maxBufferBytes', 1024 * 1024);
  let reliable: ReliableSettings | undefined;
  if (options.reliable !== undefined && options.reliable !== false) {
    if (options.history === false) {
      throw new InvalidOptionError(
        'reliable',
        'reliable mode needs the event history: do not pass history: false',
      );
    }
    const given = options.reliable === true ? {} : options.reliable;
    if (given === null || typeof given !== 'object') {
      throw new InvalidOptionError('reliable', 'reliable must be true or { secret?, linkTimeoutSec? }');
    }
    assertKnownKeys(given, ['secret', 'linkTimeoutSec'], 'reliable.');
    const secret = given.secret ?? randomRecoverySecret();
    if (
      typeof secret === 'string' ? secret.length < 16 : !(secret instanceof Uint8Array) || secret.length < 16
    ) {
      throw new InvalidOptionError('reliable', 'reliable.secret must be a string or bytes of at least 16');
    }
    const linkTimeoutSec = given.linkTimeoutSec ?? 120;
    if (!Number.isSafeInteger(linkTimeoutSec) || linkTimeoutSec < 1) {
      throw new InvalidOptionError('reliable', 'reliable.linkTimeoutSec must be a positive integer');
    }
    reliable = { secret, linkTimeoutSec };
  }
  const name = options.name ?? 'default';
  // A metric label value and a log field: printable, bounded.
  if (typeof name !== 'string' || name === '' || name.length > 100 || /\p{Cc}/u.test(name)) {
    throw new InvalidOptionError('name', 'name must be a string of 1 to 100 printable characters');
  }
  return {
    name,
    reliable,
    prefix,
    keepAliveMs,
    keepAliveText: format === 'event' ? encodeFields({ event: 'keep-alive' }) : encodeComment(''),
    maxBufferBytes,
    maxEventBytes: positiveInteger(options, 'maxEventBytes', maxBufferBytes),
    replayTimeoutMs: positiveInteger(options, 'replayTimeoutMs', 30_000),
    maxChannelsPerRequest,
    maxChannelNameLength: positiveInteger(options, 'maxChannelNameLength', DEFAULT_MAX_CHANNEL_NAME_LENGTH),
  };
}

/**
 * A namespace of channels. Create one with `events()`, publish with `publish()` or
 * `channel(name)`, and serve it with `express({ events })` or `createHandler({ events })`.
 */
export class Events<M extends object = EventMap> extends EventEmitter<EventsEvents> {
  /** GRIP channel prefix. */
  readonly prefix: string;
  /** The `name` option: this namespace in diagnostics messages, debug logs and metric labels. */
  readonly name: string;
  /** @internal */
  readonly settings: Settings;
  /** @internal Parsed GRIP configuration, reused by the HTTP handler to verify `Grip-Sig`. */
  readonly grip: GripSettings | undefined;
  #hub: Hub;
  /** Names this namespace in diagnostics messages. */
  readonly #source: DiagnosticsSource;
  #sinks: EventSink[] = [];
  #pending: Batch | undefined;
  #closed = false;
  #stats = {
    connectionsOpened: 0,
    eventsPublished: 0,
    eventsDelivered: 0,
    bytesDelivered: 0,
    slowClientsDropped: 0,
    publishErrors: 0,
    eventsReplayed: 0,
    streamResets: 0,
  };
  /** The history, or undefined when ids and replay are off. */
  readonly #store: EventStore | undefined;
  /** Serialises store appends so batches reach clients in publish order. */
  #appending: Promise<void> = Promise.resolve();

  constructor(options: EventsOptions = {}) {
    super();
    this.settings = resolveSettings(options);
    this.prefix = this.settings.prefix;
    this.name = this.settings.name;
    this.#source = { source: this, namespace: this.name };
    startDebugLog();
    const { keepAliveMs, keepAliveText } = this.settings;
    this.#hub = new Hub(keepAliveMs === false ? undefined : Buffer.from(keepAliveText), keepAliveMs || 0);
    this.#store = resolveStore(options.history);
    this.grip = resolveGrip(options.grip);
    if (this.grip !== undefined) {
      this.#sinks.push(
        createGripSink(this.grip, {
          prefix: this.prefix,
          ...(options.gripRetry !== undefined && { retry: options.gripRetry }),
          reliable: this.settings.reliable !== undefined,
          diagnostics: this.#source,
        }),
      );
    }
  }

  /**
   * An object-mode Writable publishing each written `{ event, data, id?, retry? }` on `name`.
   * A new object each call, so one piped stream ending never affects other writers.
   */
  channel(name: string): Channel<M> {
    assertChannelName(name, this.settings.maxChannelNameLength);
    return new Channel<M>(this, name);
  }

  /**
   * Publish one event on `channel`. Resolves once the event has been written to local
   * subscribers and accepted by every sink (GRIP proxies); rejects with a typed error otherwise.
   */
  publish(channel: string, event: EventInput<M>): Promise<void> {
    return this.publishTracked(channel, event).done;
  }

  /** @internal `publish()`, plus when the event reached local subscribers (for Channel writes). */
  publishTracked(channel: string, event: unknown): TrackedPublish {
    let pending: PendingEvent;
    try {
      if (this.#closed) throw new EventsClosedError();
      assertChannelName(channel, this.settings.maxChannelNameLength);
      pending = prepare(channel, event);
      // Measured without the id the history assigns (at most 38 bytes): known before the append.
      const size =
        Buffer.byteLength(pending.body) + (pending.id === undefined ? 0 : Buffer.byteLength(pending.id) + 5);
      if (size > this.settings.maxEventBytes) throw new EventTooLargeError(size, this.settings.maxEventBytes);
      if (pending.id !== undefined && this.#store !== undefined) {
        throw new InvalidEventError(
          'id',
          'ids are assigned by the event history; pass history: false to events() to set your own',
        );
      }
      if (pending.id === 'error') {
        // The handler answers a reconnect carrying this id with 204, which stops EventSource.
        throw new InvalidEventError('id', "the id 'error' is reserved: it marks a stream-error");
      }
    } catch (err) {
      this.#stats.publishErrors++;
      this.report(err as Error, { channel, event });
      return { done: handled(Promise.reject(err)), delivered: SETTLED };
    }
    this.#stats.eventsPublished++;
    const batch = this.#enqueue(pending);
    return { done: batch.promise, delivered: batch.delivered };
  }

  /** Add a destination for every published batch (used by GRIP and stores). */
  addSink(sink: EventSink): void {
    if (sink === null || typeof sink !== 'object' || typeof sink.publish !== 'function') {
      throw new InvalidOptionError('sink', 'a sink must be an object with a publish(batch) method');
    }
    this.#sinks.push(sink);
  }

  stats(): EventsStats {
    return {
      connections: this.#hub.size,
      subscribers: this.#hub.subscriberCounts(),
      ...this.#stats,
    };
  }

  /** Stop publishing, end every open stream, and release timers and sinks. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pending !== undefined) this.#flush();
    // Let events already accepted reach the store and the open streams before ending them.
    await this.#appending;
    for (const conn of this.#hub.connections()) conn.end();
    await Promise.all(this.#sinks.map((s) => s.close?.()));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * @internal Attach an already-validated response as a subscriber: headers, `preamble`
   * (padding, retry), `stream-open`, any replay after `lastEventId`, then live events.
   */
  openStream(
    res: HttpResponse,
    channels: readonly string[],
    headers: Record<string, string>,
    preamble: string,
    lastEventId: string | undefined,
  ): void {
    if (res instanceof ServerResponse && res.socket === null && !res.destroyed && !res.writableEnded) {
      // HTTP/1.1 pipelining: this response is queued behind another one on its connection. It has
      // no socket and is never told when the connection closes, so it must not be subscribed.
      const socket = res.req.socket;
      if (carriesEventStream(socket)) {
        // Behind an event stream, which never ends by itself, it could never be answered; and
        // its queued output would make Node stop reading the connection, hiding the client's
        // hang-up. Pipelining on an event stream is refused by closing the connection.
        resetSocket(socket);
        return;
      }
      // Behind an ordinary response: it gets its turn in order, as HTTP/1.1 requires. Nothing is
      // written meanwhile; if the client hangs up first, it simply never subscribes.
      res.once('socket', () =>
        process.nextTick(() => this.openStream(res, channels, headers, preamble, lastEventId)),
      );
      return;
    }
    if (res.destroyed || res.writableEnded) return; // the client left while it waited
    res.writeHead(200, headers);
    // HTTP/2 compat sends its headers with the first write, which follows immediately.
    if (res instanceof ServerResponse) res.flushHeaders();
    if (this.#closed) {
      // Never a subscriber: end it without a Connection, so no 'disconnect' without 'connect'.
      res.end();
      return;
    }
    this.#subscribe(res, channels, preamble, lastEventId);
  }

  #subscribe(
    res: HttpResponse,
    channels: readonly string[],
    preamble: string,
    lastEventId: string | undefined,
  ): void {
    const conn = new Connection(res, channels, this.#owner, this.settings.maxBufferBytes);
    this.#stats.connectionsOpened++;
    const store = this.#store;
    if (store === undefined) {
      this.#hub.add(conn);
      // The initial bytes are not an event delivery.
      conn.send(new Outgoing(Buffer.from(preamble + STREAM_OPEN), 0), Date.now());
      if (conn.open) this.emit('connect', { channels });
      if (conn.open && diag.connect.hasSubscribers) diag.connect.publish({ ...this.#source, channels });
      return;
    }
    // Subscribe first and hold live events, then read the history: whatever is published
    // meanwhile is either in the replay or held, and the seq check drops the overlap.
    conn.hold(this.settings.replayTimeoutMs);
    this.#hub.add(conn);
    this.emit('connect', { channels });
    if (diag.connect.hasSubscribers) diag.connect.publish({ ...this.#source, channels });
    const failed = (cause: unknown): void => {
      const error = cause instanceof EventStoreError ? cause : this.#storeFailed('read', cause);
      this.report(error, {});
      // Without a position the client cannot be served safely; it reconnects and retries.
      conn.abort();
    };
    openResume(store, channels, lastEventId, {
      preamble,
      pageBytes: this.settings.maxBufferBytes,
      onReset: (reset, reason) => this.#countReset(reset, reason, 'stream'),
    }).then((resume) => {
      if (!conn.open) {
        void resume.pieces.return();
        return;
      }
      this.#countReplay(resume.replayed, channels, lastEventId, 'stream');
      return conn.release(resume.pieces, resume.coveredUpTo).catch(failed);
    }, failed);
  }

  /**
   * @internal The body a GRIP proxy sends before holding: `preamble`, `stream-open` and any
   * replay after `lastEventId`.
   */
  async initialText(
    channels: readonly string[],
    preamble: string,
    lastEventId: string | undefined,
  ): Promise<{ text: string; lastIds: Record<string, string> | undefined }> {
    if (this.#store === undefined) return { text: preamble + STREAM_OPEN, lastIds: undefined };
    const plan = await planResume(this.#store, channels, lastEventId).catch((cause: unknown) => {
      throw this.#storeFailed('read', cause);
    });
    this.#countPlan(plan, channels, lastEventId);
    return { text: preamble + plan.text, lastIds: plan.lastIds };
  }

  /** @internal GRIP reliable mode: what follows each channel's last id, for a recovery request. */
  async recoveryText(
    channels: readonly string[],
    lastIds: Readonly<Record<string, string>>,
  ): Promise<{ text: string; lastIds: Record<string, string> }> {
    if (this.#store === undefined)
      throw new EventStreamError('ERR_SSE_NO_HISTORY', 'recovery needs the history');
    return planRecovery(this.#store, channels, lastIds).catch((cause: unknown) => {
      throw this.#storeFailed('read', cause);
    });
  }

  #storeFailed(operation: 'append' | 'read', cause: unknown): EventStoreError {
    const error = new EventStoreError(cause);
    if (diag.storeError.hasSubscribers) diag.storeError.publish({ ...this.#source, operation, error });
    return error;
  }

  /** A GRIP hold's initial body: its replay and any reset, counted like a direct stream's. */
  #countPlan(plan: ResumePlan, channels: readonly string[], lastEventId: string | undefined): void {
    if (plan.reset !== undefined) this.#countReset(plan.reset.channels, plan.reset.reason, 'grip-hold');
    this.#countReplay(plan.replayed, channels, lastEventId, 'grip-hold');
  }

  #countReplay(
    events: number,
    channels: readonly string[],
    lastEventId: string | undefined,
    via: ResumeVia,
  ): void {
    this.#stats.eventsReplayed += events;
    if (lastEventId !== undefined && diag.replay.hasSubscribers)
      diag.replay.publish({ ...this.#source, channels, lastEventId, events, via });
  }

  #countReset(channels: readonly string[], reason: ResetReason, via: ResumeVia): void {
    this.#stats.streamResets++;
    if (diag.reset.hasSubscribers) diag.reset.publish({ ...this.#source, channels, reason, via });
  }

  #owner: ConnectionOwner = {
    released: (conn, reason) => {
      this.#hub.remove(conn);
      if (reason === 'slow') this.#stats.slowClientsDropped++;
      if (reason === 'slow' && diag.slowDrop.hasSubscribers)
        diag.slowDrop.publish({
          ...this.#source,
          channels: conn.channels,
          bufferedBytes: conn.backlogBytes(),
          maxBufferBytes: this.settings.maxBufferBytes,
        });
      if (diag.disconnect.hasSubscribers)
        diag.disconnect.publish({ ...this.#source, channels: conn.channels, reason });
      this.emit('disconnect', { channels: conn.channels, reason });
    },
    delivered: (events, bytes) => {
      this.#stats.eventsDelivered += events;
      this.#stats.bytesDelivered += bytes;
    },
  };

  #enqueue(encoded: PendingEvent): Batch {
    let batch = this.#pending;
    if (batch === undefined) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      let markDelivered!: () => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = () => {
          if (batch !== undefined) batch.settled = true;
          res();
        };
        reject = (err) => {
          if (batch !== undefined) batch.settled = true;
          rej(err);
        };
      });
      const delivered = new Promise<void>((res) => {
        markDelivered = res;
      });
      // Marked handled once per batch (not per publish): the hot path stays one push.
      handled(promise);
      batch = {
        events: [],
        promise,
        resolve,
        reject,
        delivered,
        markDelivered,
        settled: false,
        startedAt: performance.now(),
      };
      this.#pending = batch;
      // Everything published in this tick goes out together: one write per connection and one
      // request per proxy.
      process.nextTick(this.#flush);
    }
    batch.events.push(encoded);
    return batch;
  }

  #flush = (): void => {
    const batch = this.#pending;
    if (batch === undefined) return;
    this.#pending = undefined;
    const store = this.#store;
    if (store === undefined) {
      try {
        this.#dispatch(
          batch,
          batch.events.map((p) => finish(p, p.id, undefined)),
        );
      } catch (err) {
        this.#fail(batch, err instanceof Error ? err : new Error(String(err)));
      }
      return;
    }
    // The store assigns ids. Appending before delivering means a client that resumes reads
    // every event it could have missed from the store; the chain keeps batches in order.
    this.#appending = this.#appending.then(async () => {
      let encoded: EncodedEvent[];
      try {
        // The epoch comes with the append: once the events are stored, nothing else can fail
        // and make their publish reject (a caller would retry and store them twice).
        const { epoch, events } = await store.append(
          batch.events.map(({ channel, body }) => ({ channel, body })),
        );
        encoded = batch.events.map((p, i) => {
          const { seq, prevSeq } = events[i]!;
          return finish(p, formatId(epoch, seq), seq, formatId(epoch, prevSeq));
        });
      } catch (cause) {
        this.#fail(batch, this.#storeFailed('append', cause));
        return;
      }
      this.#dispatch(batch, encoded);
    });
    // The chain must never stay rejected, or every later batch would wait forever; every path
    // above settles its batch, so anything arriving here is a defect, reported and contained.
    this.#appending = this.#appending.catch((err: unknown) => {
      this.#fail(batch, err instanceof Error ? err : new Error(String(err)));
    });
  };

  #dispatch(batch: Batch, encoded: EncodedEvent[]): void {
    if (diag.publish.hasSubscribers) diag.publish.publish({ ...this.#source, batch: encoded });
    const { eventsDelivered, bytesDelivered } = this.#stats;
    this.#hub.deliver(encoded);
    if (diag.deliver.hasSubscribers)
      diag.deliver.publish({
        ...this.#source,
        events: encoded.length,
        deliveries: this.#stats.eventsDelivered - eventsDelivered,
        bytes: this.#stats.bytesDelivered - bytesDelivered,
        durationMs: performance.now() - batch.startedAt,
      });
    batch.markDelivered();
    if (this.#sinks.length === 0) {
      batch.resolve();
      return;
    }
    Promise.all(this.#sinks.map((sink) => sink.publish(encoded))).then(batch.resolve, (err: Error) =>
      this.#fail(batch, err),
    );
  }

  #fail(batch: Batch, err: Error): void {
    batch.markDelivered();
    if (batch.settled) {
      this.report(err, {});
      return;
    }
    this.#stats.publishErrors += batch.events.length;
    for (const ev of batch.events) this.report(err, { channel: ev.channel, event: ev.event });
    batch.reject(err);
  }

  /**
   * Listeners run isolated from the library: whatever one throws (or a promise it returns rejects
   * with) is caught, so it can never leave a connection, a publish or `close()` half-done, and
   * never crashes the process. The failure is emitted as `'error'` (a `ListenerError` naming the
   * event); when nobody listens to `'error'`, or an `'error'` listener fails, it becomes a process
   * warning. `'error'` without listeners is dropped instead of thrown.
   */
  override emit<K extends keyof EventsEvents>(name: K, ...args: EventsEvents[K]): boolean;
  override emit(name: string | symbol, ...args: unknown[]): boolean {
    const listeners = this.rawListeners(name as keyof EventsEvents);
    if (listeners.length === 0) return false;
    for (const listener of listeners) {
      try {
        const result: unknown = Reflect.apply(listener, this, args);
        if (isThenable(result)) {
          result.then(undefined, (err: unknown) => this.#listenerFailed(name, err));
        }
      } catch (err) {
        this.#listenerFailed(name, err);
      }
    }
    return true;
  }

  #listenerFailed(name: string | symbol, err: unknown): void {
    const error = new ListenerError(String(name), err);
    if (name !== 'error' && this.listenerCount('error') > 0) this.emit('error', error, {});
    else process.emitWarning(error);
  }

  /** @internal A listener of an object this one owns (a Channel's `publishError`) failed. */
  listenerFailed(name: string, err: unknown): void {
    this.#listenerFailed(name, err);
  }

  // 'error' is only emitted to listeners: an unobserved failure must never crash the process.
  /** @internal */
  report(error: Error, context: ErrorContext): void {
    this.emit('error', error, context);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Marks Events objects in a way two copies of this package share (an app that loads both the
 * ESM and the CommonJS build has two `Events` classes, so `instanceof` fails across them). The
 * value is the version of what handlers call on an Events object (`settings`, `grip`, `prefix`,
 * `openStream`, `initialText`, `recoveryText`, `report`); bump it when that changes.
 */
const EVENTS_BRAND = Symbol.for('express-eventstream.events');
const EVENTS_PROTOCOL = 1;
Object.defineProperty(Events.prototype, EVENTS_BRAND, { value: EVENTS_PROTOCOL });

/** Whether `value` is an Events object from this copy of the package or a compatible one. */
export function eventsProtocolOf(value: unknown): 'compatible' | 'incompatible' | 'none' {
  if (value instanceof Events) return 'compatible';
  if (value === null || typeof value !== 'object') return 'none';
  const version: unknown = (value as Record<symbol, unknown>)[EVENTS_BRAND];
  if (version === undefined) return 'none';
  return version === EVENTS_PROTOCOL ? 'compatible' : 'incompatible';
}

/** Validate an event object and encode everything but its id, once. */
export function prepare(channel: string, input: unknown): PendingEvent {
  if (input === null || typeof input !== 'object') {
    throw new InvalidEventError('event', 'an event must be an object like { event, data }');
  }
  // Each field is read exactly once, here: a getter or Proxy that throws (or changes its answer)
  // cannot get past validation, and what it throws becomes a typed error.
  let fields: Record<string, unknown>;
  try {
    fields = readFields(input as Record<string, unknown>);
  } catch (cause) {
    if (cause instanceof EventStreamError) throw cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new InvalidEventError('event', `reading the event object threw: ${reason}`, { cause });
  }
  const { event, id, retry, raw, data } = fields;
  assertEventName(event);
  assertEventId(id);
  assertRetry(retry);
  if (raw !== undefined && typeof raw !== 'boolean')
    throw new InvalidEventError('raw', 'raw must be a boolean');
  const body = encodeFields({ event, retry, data: dataToText(data, raw === true) });
  return { channel, event, id, body };
}

function readFields(ev: Record<string, unknown>): Record<string, unknown> {
  // Inside the guarded read: Array.isArray throws on a revoked Proxy.
  if (Array.isArray(ev))
    throw new InvalidEventError('event', 'an event must be an object like { event, data }');
  for (const key in ev) {
    if (!EVENT_KEYS.has(key)) {
      throw new InvalidEventError(key, `unknown event field '${key}' (allowed: event, data, id, retry, raw)`);
    }
  }
  return { event: ev.event, id: ev.id, retry: ev.retry, raw: ev.raw, data: ev.data };
}

function finish(
  p: PendingEvent,
  id: string | undefined,
  seq: number | undefined,
  prevId?: string,
): EncodedEvent {
  const text = id === undefined ? p.body : `${id === '' ? 'id:' : `id: ${id}`}\n${p.body}`;
  return { channel: p.channel, id, seq, prevId, event: p.event, text, bytes: Buffer.from(text) };
}

/** Validate and encode one event (no history): what a subscriber receives for it. */
export function encode(channel: string, input: unknown): EncodedEvent {
  const p = prepare(channel, input);
  return finish(p, p.id, undefined);
}

function resolveStore(history: EventsOptions['history']): EventStore | undefined {
  if (history === false) return undefined;
  if (history === undefined) return new MemoryStore();
  if (history === null || typeof history !== 'object') {
    throw new InvalidOptionError('history', 'history must be an EventStore, store options, or false');
  }
  const candidate = history as Partial<EventStore>;
  if (typeof candidate.append === 'function') {
    for (const method of ['epoch', 'readAfter'] as const) {
      if (typeof candidate[method] !== 'function') {
        throw new InvalidOptionError('history', `history store is missing ${method}()`);
      }
    }
    return history as EventStore;
  }
  assertKnownKeys(history, ['maxEventsPerChannel', 'maxAgeMs'], 'history.');
  return new MemoryStore(history as MemoryStoreOptions);
}
