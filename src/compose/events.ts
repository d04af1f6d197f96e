// The Events namespace: composes options, pipeline, bus, hub, subscribers and response streams;
// the EventEmitter users listen to. Internals: `internalsOf()`, the static in `internal-key.ts`.
import { EventEmitter } from 'node:events';
import { assertChannelName } from '../base/channel-name.js';
import { InvalidOptionError, ListenerError } from '../base/errors.js';
import type {
  ErrorContext,
  EventInput,
  EventMap,
  EventSink,
  EventsEvents,
  EventsStats,
} from '../base/types.js';
import { Channel } from '../core/channel.js';
import { startDebugLog } from '../core/debug.js';
import type { DiagnosticsSource } from '../core/diagnostics.js';
import { type CloseOptions, drain, resolveDrainMs } from '../core/drain.js';
import { ChannelRegistry } from '../core/hub.js';
import { Pipeline, type TrackedPublish } from '../core/pipeline.js';
import type { PublishOptions as Options } from '../core/publish-options.js';
import { Subscriptions } from '../core/subscription.js';
import { type EventBus, LocalBus } from '../engine/bus.js';
import { type RunningEngine, startEngine } from '../engine/running.js';
import { createGripPlugin } from '../grip/plugin.js';
import type { RevokeOptions, RevokeSelector } from '../identity/revocations.js';
import { IdentityStreams } from '../identity/streams.js';
import type { PresenceSnapshot } from '../presence/members.js';
import { type PresenceTracker, presenceOf, startPresence } from '../presence/tracker.js';
import type { ResponseStream, ResponseStreamOptions, StopOutcome } from '../streams/api.js';
import { ResponseStreams } from '../streams/registry.js';
import {
  EVENTS_BRAND,
  EVENTS_PROTOCOL,
  type EventsInternals,
  INSTANCE_INTERNALS,
  INTERNALS,
  type PackageInternals,
} from './internal-key.js';
import { emitIsolated } from './isolated-emit.js';
import { type EventsOptions, resolveSettings, type Settings } from './options.js';
import { PACKAGE_INTERNALS } from './package-internals.js';
import { newCounters } from './stats.js';

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
  readonly [INSTANCE_INTERNALS]: EventsInternals;
  /** @internal What the package's subpath entries share with the core (see `internal-key.ts`). */
  static readonly [INTERNALS]: PackageInternals = PACKAGE_INTERNALS;
  readonly #settings: Settings;
  readonly #hub: ChannelRegistry;
  readonly #bus: EventBus;
  readonly #engine: RunningEngine;
  readonly #identity: IdentityStreams;
  readonly #sinks: EventSink[] = [];
  readonly #pipeline: Pipeline;
  readonly #streams: ResponseStreams;
  #closed = false;
  #closing: Promise<void> | undefined;
  #stats = newCounters();
  readonly #presence: PresenceTracker | undefined;

  constructor(options: EventsOptions = {}) {
    super();
    const settings = resolveSettings(options);
    this.#settings = settings;
    this.prefix = settings.prefix;
    this.name = settings.name;
    const source: DiagnosticsSource = { source: this, namespace: this.name };
    startDebugLog();
    const { keepAliveMs, keepAliveText } = settings;
    this.#bus = settings.bus ?? new LocalBus();
    this.#engine = startEngine(settings, (error) => this.#report(error, {}));
    this.#hub = new ChannelRegistry(
      keepAliveMs === false ? undefined : Buffer.from(keepAliveText),
      keepAliveMs || 0,
      this.#bus,
    );
    const grip = createGripPlugin({
      proxies: settings.grip,
      prefix: settings.prefix,
      keepAlive: keepAliveMs === false ? undefined : { text: keepAliveText, intervalMs: keepAliveMs },
      reliable: settings.reliable,
      retry: options.gripRetry,
      diagnostics: source,
    });
    if (grip.sink !== undefined) this.#sinks.push(grip.sink);
    const events = this;
    this.#pipeline = new Pipeline(
      {
        get closed() {
          return events.#closed;
        },
        report: (error, context) => this.#report(error, context),
        source,
        counted: (published, failed) => {
          this.#stats.eventsPublished += published;
          this.#stats.publishErrors += failed;
        },
      },
      {
        store: settings.store,
        bus: this.#bus,
        sinks: this.#sinks,
        maxChannelNameLength: settings.maxChannelNameLength,
        maxEventBytes: settings.maxEventBytes,
        flushIntervalMs: settings.flushIntervalMs,
      },
    );
    const subscriptions = new Subscriptions(
      this.#hub,
      settings.store,
      {
        opened: () => this.#stats.connectionsOpened++,
        connected: (channels, identity) => this.emit('connect', { channels, ...(identity && { identity }) }),
        disconnected: (channels, reason, identity) => {
          if (reason === 'slow') this.#stats.slowClientsDropped++;
          this.emit('disconnect', { channels, reason, ...(identity && { identity }) });
        },
        delivered: (events, bytes) => {
          this.#stats.eventsDelivered += events;
          this.#stats.bytesDelivered += bytes;
        },
        replayed: (events, resets) => {
          this.#stats.eventsReplayed += events;
          this.#stats.streamResets += resets;
        },
        report: (error) => this.#report(error, {}),
        deliveredSoFar: () => ({ events: this.#stats.eventsDelivered, bytes: this.#stats.bytesDelivered }),
        publishedAt: (batch) => this.#pipeline.publishedAt(batch),
      },
      settings,
      source,
    );
    this.#presence = startPresence(settings.presence, this.#engine, this.#hub, subscriptions, (error) =>
      this.#report(error, {}),
    );
    this.#identity = new IdentityStreams(this.#engine, grip, this.#hub, (error) => this.#report(error, {}));
    subscriptions.watchConnections(this.#identity);
    this.#streams = new ResponseStreams(settings.store, this.#engine, subscriptions, this.#pipeline);
    this[INSTANCE_INTERNALS] = {
      settings,
      grip,
      subscriptions,
      engine: this.#engine,
      identity: this.#identity,
      streams: this.#streams,
      get closed() {
        return events.#closed;
      },
      report: (error, context) => this.#report(error, context),
    };
    // Delivered batches (this process's and, with a shared bus, other processes') go to the hub.
    const started = this.#bus.start({
      deliver: (batch) => subscriptions.deliver(batch),
      reset: (channels, reason, at) => subscriptions.reset(channels, reason, at),
      report: (error) => this.#report(error, {}),
    });
    if (started !== undefined) {
      Promise.resolve(started).catch((err: unknown) =>
        this.#report(err instanceof Error ? err : new Error(String(err)), {}),
      );
    }
  }

  /**
   * An object-mode Writable publishing each written `{ event, data, id?, retry? }` on `name`.
   * A new object each call, so one piped stream ending never affects other writers.
   */
  channel(name: string): Channel<M> {
    assertChannelName(name, this.#settings.maxChannelNameLength);
    return Channel.open<M>(this.#channelPublisher, name);
  }

  /**
   * Publish one event on `channel`. Resolves once written to local subscribers and accepted by
   * every sink (GRIP proxies); rejects with a typed error otherwise.
   */
  publish(channel: string, event: EventInput<M>, options?: Options): Promise<void> {
    return this.#pipeline.publish(channel, event, options).done;
  }

  /** What a Channel publishes through: the pipeline, plus a way to report its listeners' failures. */
  readonly #channelPublisher = {
    publish: (channel: string, event: unknown, options?: Options): TrackedPublish =>
      this.#pipeline.publish(channel, event, options),
    listenerFailed: (name: string, err: unknown): void => this.#listenerFailed(name, err),
  };

  /** A response stream (one per generation, `id` unique): append chunks, end it; readable on any process. */
  stream(id: string, options?: ResponseStreamOptions): ResponseStream {
    return this.#streams.open(id, options);
  }

  /** Stop stream `id` on the process producing it (its `signal` aborts); a disconnect never does. */
  stopStream(id: string): Promise<StopOutcome> {
    return this.#streams.requestStop(id);
  }

  /** Add a destination for every published batch (a custom publisher, as GRIP proxies are). */
  addSink(sink: EventSink): void {
    if (sink === null || typeof sink !== 'object' || typeof sink.publish !== 'function') {
      throw new InvalidOptionError('sink', 'a sink must be an object with a publish(batch) method');
    }
    this.#sinks.push(sink);
  }

  /** Who is subscribed to `channel` now, across processes; needs `events({ presence })` on for it. */
  presence(channel: string): Promise<PresenceSnapshot> {
    assertChannelName(channel, this.#settings.maxChannelNameLength);
    return presenceOf(this.#presence, channel);
  }

  /** Close matching streams on every process and refuse them until `unrevoke()` or `ttlMs` (1 day). */
  revoke(selector: RevokeSelector, options?: RevokeOptions): Promise<void> {
    return this.#identity.revoke(selector, options);
  }

  /** Lift a revocation made with the same selector. */
  unrevoke(selector: RevokeSelector): Promise<void> {
    return this.#identity.unrevoke(selector);
  }

  stats(): EventsStats {
    return { connections: this.#hub.size, subscribers: this.#hub.subscriberCounts(), ...this.#stats };
  }

  /**
   * Stop publishing, end every open stream, and release timers, the bus and sinks. With
   * `{ drainMs }` the streams end spread over that window, each after a random `retry:`.
   */
  async close(options?: CloseOptions): Promise<void> {
    const drainMs = resolveDrainMs(options);
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#closing = this.#shutDown(drainMs);
    return this.#closing;
  }

  async #shutDown(drainMs: number): Promise<void> {
    // Let events already accepted reach the store and the open streams before ending them.
    await this.#pipeline.flush();
    this.#streams.close();
    await drain(this.#hub.connections(), drainMs);
    await this.#presence?.close();
    this.#identity.stop();
    await Promise.all([this.#bus.close(), this.#engine.close(), ...this.#sinks.map((s) => s.close?.())]);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Listeners run isolated from the library: whatever one throws (or a promise it returns rejects
   * with) is caught, so it can never leave a connection, a publish or `close()` half-done, and
   * never crashes the process. The failure is emitted as `'error'` (a `ListenerError` naming the
   * event); when nobody listens to `'error'`, or an `'error'` listener fails, it becomes a process
   * warning. `'error'` without listeners is dropped instead of thrown.
   */
  override emit<K extends keyof EventsEvents>(name: K, ...args: EventsEvents[K]): boolean;
  // Undeclared names too, as EventEmitter's: @types/node 26 refuses a narrower emit() override.
  override emit<N extends string | symbol>(name: Exclude<N, keyof EventsEvents>, ...args: unknown[]): boolean;
  override emit(name: string | symbol, ...args: unknown[]): boolean {
    return emitIsolated(this, name, args, (err) => this.#listenerFailed(name, err));
  }

  #listenerFailed(name: string | symbol, err: unknown): void {
    const error = new ListenerError(String(name), { cause: err });
    if (name !== 'error' && this.listenerCount('error') > 0) this.emit('error', error, {});
    else process.emitWarning(error);
  }

  // 'error' is only emitted to listeners: an unobserved failure must never crash the process.
  #report(error: Error, context: ErrorContext): void {
    this.emit('error', error, context);
  }
}

Object.defineProperty(Events.prototype, EVENTS_BRAND, { value: EVENTS_PROTOCOL });

/** The internals responders use; `value` must be a compatible Events object. */
export function internalsOf<M extends object>(value: Events<M>): EventsInternals {
  return (value as unknown as Record<symbol, EventsInternals>)[INSTANCE_INTERNALS]!;
}

/**
 * Create an Events namespace. Declare an event map to type-check `data` per event name:
 * `events<{ time: { value: string } }>()`.
 */
export function events<M extends object = EventMap>(options?: EventsOptions): Events<M> {
  return new Events<M>(options);
}
