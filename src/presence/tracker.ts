// Presence: who is subscribed to a channel, across every process of the namespace. Each process
// keeps its own streams' entries in the engine's shared state and refreshes them; entries of a
// process that died expire after `ttlMs`, without anyone cleaning up. Joins and leaves of a
// member (its first stream on the channel, its last) go to every process as control messages,
// which turn them into `presence-join` / `presence-leave` events for the streams that asked.
import { encodeFields } from '../base/encoder.js';
import { InvalidOptionError } from '../base/errors.js';
import { logText } from '../base/log-text.js';
import type { EncodedEvent } from '../base/types.js';
import type { ChannelRegistry } from '../core/hub.js';
import type { SubscriberWatch, WatchedStream } from '../core/stream-extras.js';
import type { Subscriptions } from '../core/subscription.js';
import type { JsonValue } from '../engine/control.js';
import type { RunningEngine } from '../engine/running.js';
import { encodeMember, isInfo, isMemberId, type PresenceSnapshot, snapshotOf } from './members.js';
import type { PresenceSettings } from './options.js';

const TOPIC = 'presence';

/** Where notices go: the hub's streams on `channel` that asked for them. */
type Notify = (channel: string, ev: EncodedEvent) => void;

interface LocalStream {
  channels: readonly string[];
  id: string;
  info: JsonValue | undefined;
}

export class PresenceTracker implements SubscriberWatch {
  readonly #engine: RunningEngine;
  readonly #settings: PresenceSettings;
  readonly #report: (error: Error) => void;
  /** This process's streams on presence channels, by stream key. */
  readonly #local = new Map<string, LocalStream>();
  readonly #refresh: ReturnType<typeof setInterval>;
  readonly #off: () => void;

  constructor(
    engine: RunningEngine,
    settings: PresenceSettings,
    notify: Notify,
    report: (error: Error) => void,
  ) {
    this.#engine = engine;
    this.#settings = settings;
    this.#report = report;
    this.#off = engine.control.on(TOPIC, (payload) => {
      const notice = parseNotice(payload);
      if (notice !== undefined) notify(notice.channel, notice.event);
    });
    // Three refreshes per ttl: one late or failed write never lets a live member expire.
    this.#refresh = setInterval(() => this.#refreshAll(), Math.max(1, Math.floor(settings.ttlMs / 3)));
    this.#refresh.unref?.();
  }

  opened(stream: WatchedStream): void {
    const channels = stream.channels.filter((c: string) => this.#settings.matches(c));
    if (channels.length === 0) return;
    const local: LocalStream = { channels, id: stream.member?.id ?? stream.key, info: stream.member?.info };
    this.#local.set(stream.key, local);
    for (const channel of channels) void this.#join(channel, stream.key, local);
  }

  closed(stream: WatchedStream): void {
    const local = this.#local.get(stream.key);
    if (local === undefined) return;
    this.#local.delete(stream.key);
    for (const channel of local.channels) void this.#leave(channel, stream.key, local);
  }

  tracks(channel: string): boolean {
    return this.#settings.matches(channel);
  }

  /** The members of `channel` now, from the shared state (foreign entries left out). */
  async query(channel: string): Promise<PresenceSnapshot> {
    return snapshotOf(channel, await this.#engine.state.entries(scopeOf(channel)));
  }

  close(): void {
    clearInterval(this.#refresh);
    this.#off();
    const state = this.#engine.state;
    // Leaving with the namespace: entries go now rather than after ttlMs.
    for (const [key, local] of this.#local)
      for (const channel of local.channels) {
        void state.delete(scopeOf(channel), key).catch(() => {});
        void state.delete(memberScopeOf(channel, local.id), key).catch(() => {});
      }
    this.#local.clear();
  }

  async #join(channel: string, key: string, local: LocalStream): Promise<void> {
    const { state, control } = this.#engine;
    const ttl = this.#settings.ttlMs;
    try {
      await state.put(scopeOf(channel), key, encodeMember(local), ttl);
      await state.put(memberScopeOf(channel, local.id), key, '1', ttl);
      // The member's first stream anywhere: announce it.
      if ((await state.count(memberScopeOf(channel, local.id))) === 1) {
        const payload: { c: string; k: string; m: string; i?: JsonValue } = {
          c: channel,
          k: 'join',
          m: local.id,
        };
        if (local.info !== undefined) payload.i = local.info;
        await control.send(TOPIC, payload);
      }
    } catch (err) {
      this.#report(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async #leave(channel: string, key: string, local: LocalStream): Promise<void> {
    const { state, control } = this.#engine;
    try {
      await state.delete(scopeOf(channel), key);
      await state.delete(memberScopeOf(channel, local.id), key);
      if ((await state.count(memberScopeOf(channel, local.id))) === 0)
        await control.send(TOPIC, { c: channel, k: 'leave', m: local.id });
    } catch (err) {
      this.#report(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #refreshAll(): void {
    const { state } = this.#engine;
    const ttl = this.#settings.ttlMs;
    for (const [key, local] of this.#local)
      for (const channel of local.channels) {
        state.put(scopeOf(channel), key, encodeMember(local), ttl).catch((err: unknown) => this.#failed(err));
        state.put(memberScopeOf(channel, local.id), key, '1', ttl).catch((err: unknown) => this.#failed(err));
      }
  }

  #failed(err: unknown): void {
    this.#report(err instanceof Error ? err : new Error(String(err)));
  }
}

function scopeOf(channel: string): string {
  return `presence:${channel}`;
}

function memberScopeOf(channel: string, id: string): string {
  return `presence-member:${channel}\n${id}`;
}

/** A received notice, checked (it is foreign data), as the event its streams get. */
function parseNotice(payload: unknown): { channel: string; event: EncodedEvent } | undefined {
  if (payload === null || typeof payload !== 'object') return undefined;
  const { c, k, m, i } = payload as { c?: unknown; k?: unknown; m?: unknown; i?: unknown };
  if (typeof c !== 'string' || c.length === 0 || c.length > 1024) return undefined;
  if ((k !== 'join' && k !== 'leave') || !isMemberId(m) || (i !== undefined && !isInfo(i))) return undefined;
  const data = JSON.stringify(i === undefined ? { id: m } : { id: m, info: i });
  const text = encodeFields({ event: `presence-${k}`, data });
  return {
    channel: c,
    event: { channel: c, id: undefined, event: `presence-${k}`, text, bytes: Buffer.from(text) },
  };
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
