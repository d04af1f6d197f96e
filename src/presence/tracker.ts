// Presence: who is subscribed to a channel, across every process of the namespace. Each process
// keeps a view of the channels it serves or was asked about in memory (`presence()` reads it, no
// round trip), current from three sources: its own streams at once; the other processes' open,
// close, beat and bye control messages; and a read of the shared state when a view starts, after
// the control channel was down (resync), and every ttl (reconciliation, for a message lost
// without an outage). Each stream is also an entry in the state, refreshed every ttlMs / 3, so a
// new view can be read from it. A process silent for ttlMs has died: its streams leave every view.
import { randomUUID } from 'node:crypto';
import { InvalidOptionError } from '../base/errors.js';
import { logText } from '../base/log-text.js';
import type { ChannelRegistry } from '../core/hub.js';
import type { SubscriberWatch, WatchedStream } from '../core/stream-extras.js';
import type { Subscriptions } from '../core/subscription.js';
import type { JsonValue } from '../engine/control.js';
import type { RunningEngine } from '../engine/running.js';
import { encodeMember, type PresenceSnapshot } from './members.js';
import { PRESENCE_TOPIC, type PresenceMessage, parseMessage } from './messages.js';
import type { PresenceSettings } from './options.js';
import type { ChannelView } from './view.js';
import { type Notify, PresenceViews } from './views.js';

interface LocalStream {
  channels: readonly string[];
  id: string;
  info: JsonValue | undefined;
  /** Its state writes and messages, in order: a close never overtakes its open. */
  announced: Promise<void>;
}

export class PresenceTracker implements SubscriberWatch {
  readonly #engine: RunningEngine;
  readonly #settings: PresenceSettings;
  readonly #report: (error: Error) => void;
  /** This process's id in messages and state entries: the lease its streams live by. */
  readonly #self = randomUUID();
  readonly #views: PresenceViews;
  /** This process's streams on presence channels, by stream key. */
  readonly #local = new Map<string, LocalStream>();
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #off: Array<() => void>;
  #refreshedAt = Date.now();

  constructor(
    engine: RunningEngine,
    settings: PresenceSettings,
    notify: Notify,
    report: (error: Error) => void,
  ) {
    this.#engine = engine;
    this.#settings = settings;
    this.#report = report;
    this.#views = new PresenceViews(this.#self, settings.ttlMs, notify);
    this.#off = [
      engine.control.on(PRESENCE_TOPIC, (payload) => {
        const message = parseMessage(payload);
        if (message !== undefined && this.#views.receive(message, Date.now())) this.#reloadAll();
      }),
      engine.control.onResync(() => this.#reloadAll()),
    ];
    // A tenth of the ttl: a dead process's streams go at most that long after its lease ran out.
    this.#timer = setInterval(() => this.#tick(), Math.max(1, Math.floor(settings.ttlMs / 10)));
    this.#timer.unref?.();
  }

  opened(stream: WatchedStream): void {
    const channels = stream.channels.filter((c: string) => this.#settings.matches(c));
    if (channels.length === 0) return;
    const id = stream.member?.id ?? stream.key;
    const local: LocalStream = { channels, id, info: stream.member?.info, announced: Promise.resolve() };
    this.#local.set(stream.key, local);
    for (const channel of channels) {
      const view = this.#viewOf(channel);
      view.localStreams++;
      this.#views.add(channel, stream.key, { member: id, info: local.info, owner: this.#self });
    }
    this.#announce(stream.key, local, 'open');
  }

  closed(stream: WatchedStream): void {
    const local = this.#local.get(stream.key);
    if (local === undefined) return;
    this.#local.delete(stream.key);
    for (const channel of local.channels) {
      const view = this.#views.get(channel);
      if (view !== undefined) view.localStreams--;
      this.#views.remove(channel, stream.key);
    }
    this.#announce(stream.key, local, 'close');
  }

  tracks(channel: string): boolean {
    return this.#settings.matches(channel);
  }

  /** The members of `channel` now, from this process's view (read from the state the first time). */
  async query(channel: string): Promise<PresenceSnapshot> {
    const view = this.#viewOf(channel);
    view.lastQueriedAt = Date.now();
    if (!view.loaded) {
      const failure = await this.#load(channel, view);
      if (!view.loaded) throw failure ?? new Error(`presence of '${logText(channel)}' could not be read`);
    }
    return view.snapshot(channel);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    for (const off of this.#off) off();
    const { state, control } = this.#engine;
    // Leaving with the namespace: entries go now rather than after ttlMs, and every view drops
    // this process's streams on its goodbye.
    for (const [key, local] of this.#local)
      for (const channel of local.channels) void state.delete(scopeOf(channel), key).catch(() => {});
    this.#local.clear();
    await control.send(PRESENCE_TOPIC, { k: 'bye', p: this.#self }).catch(() => {});
  }

  #viewOf(channel: string): ChannelView {
    let view = this.#views.get(channel);
    if (view === undefined) {
      view = this.#views.create(channel);
      void this.#load(channel, view);
    }
    return view;
  }

  /** Reads the channel's entries into its view; resolves with the failure, if it failed. */
  #load(channel: string, view: ChannelView): Promise<Error | undefined> {
    if (view.loading !== undefined) return view.loading.then(() => undefined);
    view.openedDuringLoad.clear();
    view.closedDuringLoad.clear();
    let failure: Error | undefined;
    const loading = this.#engine.state.entries(scopeOf(channel)).then(
      (entries) => this.#views.merge(channel, view, entries),
      (err: unknown) => {
        failure = err instanceof Error ? err : new Error(String(err));
        view.loadedAt = Date.now();
        this.#report(failure);
      },
    );
    view.loading = loading.finally(() => {
      view.loading = undefined;
    });
    return view.loading.then(() => failure);
  }

  #reloadAll(): void {
    for (const [channel, view] of this.#views.all()) void this.#load(channel, view);
  }

  #announce(key: string, local: LocalStream, kind: 'open' | 'close'): void {
    const { state, control } = this.#engine;
    const ttl = this.#settings.ttlMs;
    const owner = this.#self;
    local.announced = local.announced.then(async () => {
      for (const channel of local.channels) {
        try {
          if (kind === 'open') {
            await state.put(
              scopeOf(channel),
              key,
              encodeMember({ id: local.id, info: local.info, owner }),
              ttl,
            );
            const message: PresenceMessage = { k: 'open', c: channel, s: key, p: owner, m: local.id };
            if (local.info !== undefined) message.i = local.info;
            await control.send(PRESENCE_TOPIC, message);
          } else {
            await state.delete(scopeOf(channel), key);
            await control.send(PRESENCE_TOPIC, { k: 'close', c: channel, s: key, p: owner });
          }
        } catch (err) {
          this.#failed(err);
        }
      }
    });
  }

  #tick(): void {
    const now = Date.now();
    for (const [channel, view] of this.#views.sweep(now)) void this.#load(channel, view);
    // Three refreshes per ttl: one late or failed write never lets a live member expire.
    if (now - this.#refreshedAt < this.#settings.ttlMs * 0.3) return;
    this.#refreshedAt = now;
    if (this.#local.size === 0) return;
    const { state, control } = this.#engine;
    const ttl = this.#settings.ttlMs;
    control.send(PRESENCE_TOPIC, { k: 'beat', p: this.#self }).catch((err: unknown) => this.#failed(err));
    for (const [key, local] of this.#local)
      for (const channel of local.channels)
        state
          .put(
            scopeOf(channel),
            key,
            encodeMember({ id: local.id, info: local.info, owner: this.#self }),
            ttl,
          )
          .catch((err: unknown) => this.#failed(err));
  }

  #failed(err: unknown): void {
    this.#report(err instanceof Error ? err : new Error(String(err)));
  }
}

function scopeOf(channel: string): string {
  return `presence:${channel}`;
}

/** Presence for a namespace when its option is on: follows the streams, notices go to the hub. */
export function startPresence(
  settings: PresenceSettings | undefined,
  engine: RunningEngine,
  hub: ChannelRegistry,
  subscriptions: Subscriptions,
  report: (error: Error) => void,
): PresenceTracker | undefined {
  if (settings === undefined) return undefined;
  const tracker = new PresenceTracker(engine, settings, (channel, ev) => hub.notice(channel, ev), report);
  subscriptions.watch = tracker;
  return tracker;
}

/** `events.presence(channel)`: a typed error when presence is off for the channel. */
export function presenceOf(tracker: PresenceTracker | undefined, channel: string): Promise<PresenceSnapshot> {
  if (tracker === undefined || !tracker.tracks(channel))
    return Promise.reject(
      new InvalidOptionError(
        'presence',
        `presence is off for channel '${logText(channel)}': see events({ presence })`,
      ),
    );
  return tracker.query(channel);
}
