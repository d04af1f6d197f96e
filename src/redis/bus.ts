// The EventBus over Redis pub/sub: every process with subscribers on a channel gets its events,
// in order, exactly once, even though pub/sub itself is at-most-once.
//
// Why the bus needs no local fast path: the append script publishes inside Redis, so one
// subscriber connection receives the namespace's events in Redis' execution order, which is seq
// order across all channels. A connection listening to several channels resumes from ONE
// Last-Event-ID, so it must never get seq 10 of channel a before seq 9 of channel b; delivering
// this process's own events directly could do exactly that (9, from another process, may still be
// in flight). So the bus delivers only what comes from Redis, and publish() waits for the echo.
//
// Losing messages (a dropped subscriber connection, output-buffer limits) shows as a broken
// prevSeq chain: the event's prevSeq is not the last seq delivered on its channel. Then, and when
// the connection returns, when channels are added, or when an event carries a new epoch, the bus
// pauses delivery, buffers what arrives, and syncs from the store: one multi-channel read per page
// from the lowest delivered position, delivered in seq order, before the buffer is replayed.
import { type EncodedEvent, encodeStoredEvent, InvalidOptionError } from 'express-eventstream';
import { assertBusValues, assertKnownKeys, assertObject } from './options.js';
import type { RedisClient, RedisStore } from './store.js';
import type { BusEvent, BusResetReason, BusSink, ChainedRecord, EventBus } from './types.js';

export interface RedisBusOptions {
  /** The Redis store the events are appended to (its client is duplicated for subscribing). */
  store: RedisStore;
  /** Builds what the hub writes from an event. Default: `id: <epoch>-<seq>` followed by the body. */
  encode?: (event: BusEvent) => EncodedEvent;
  /** Called with each Redis failure (the bus never throws them). Default: ignore. */
  onError?: (error: Error) => void;
  /** Events read per store call while catching up. Default 1000. */
  pageSize?: number;
  /** Events buffered while catching up before the buffer is dropped (and re-read). Default 100 000. */
  maxBuffered?: number;
  /**
   * How often (ms) the bus checks the store for events pub/sub lost when nothing followed them
   * on their channel (a later event shows the gap at once); one read for all channels. `false`
   * turns it off. Default 10 000.
   */
  checkIntervalMs?: number | false;
  /**
   * Close the store when the bus closes, so `events.close()` releases both (`redis()` sets it).
   * Default false: a store passed in stays open.
   */
  closeStore?: boolean;
}

/** The keys redisBus() accepts. */
export const BUS_KEYS = [
  'store',
  'encode',
  'onError',
  'pageSize',
  'maxBuffered',
  'checkIntervalMs',
  'closeStore',
] as const;

interface ChannelState {
  /** Seq of the last event delivered on this channel; undefined until the first sync places it. */
  last: number | undefined;
  ready: Promise<void>;
  resolveReady: () => void;
  subscribed: boolean;
}

/** Default encoding: the SSE text the core writes for a stored event. */
export function encodeBusEvent(ev: BusEvent): EncodedEvent {
  return encodeStoredEvent(ev);
}

/** Parse one pub/sub payload: [epoch, seq, prevSeq, body, seq, prevSeq, body, ...]. */
function parsePayload(channel: string, payload: string): BusEvent[] {
  const parts = JSON.parse(payload) as unknown;
  if (!Array.isArray(parts) || typeof parts[0] !== 'string') throw new Error('malformed bus message');
  const epoch = parts[0];
  const out: BusEvent[] = [];
  for (let i = 1; i + 2 < parts.length; i += 3) {
    out.push({
      channel,
      epoch,
      seq: Number(parts[i]),
      prevSeq: Number(parts[i + 1]),
      body: String(parts[i + 2]),
    });
  }
  return out;
}

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2000;

export class RedisBus implements EventBus {
  readonly #store: RedisStore;
  readonly #encode: (event: BusEvent) => EncodedEvent;
  readonly #onError: (error: Error) => void;
  readonly #pageSize: number;
  readonly #maxBuffered: number;
  readonly #sharded: boolean;
  readonly #closeStore: boolean;
  #sub: RedisClient | undefined;
  #sink: BusSink | undefined;
  #channels = new Map<string, ChannelState>();
  #epoch: string | undefined;
  /** Events received while a sync runs, replayed after it. */
  #buffer: BusEvent[] = [];
  #overflowed = false;
  #syncing = false;
  #syncWanted = false;
  #retryMs = RETRY_MIN_MS;
  #retryTimer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  readonly #checkIntervalMs: number | false;
  #closed = false;
  /** publish() callers waiting for their events' echo. */
  #waiters = new Set<{ channel: string; seq: number; resolve: () => void }>();
  /** Counters for tests and benchmarks. */
  readonly stats = { delivered: 0, syncs: 0, storeReads: 0, gaps: 0, resets: 0 };

  constructor(options: RedisBusOptions) {
    assertObject(options, 'options', 'redisBus() options');
    assertKnownKeys(options, BUS_KEYS);
    const store = options.store as Partial<RedisStore> | null | undefined;
    // Duck-typed, like the store's client: a second copy of this module makes another class.
    if (typeof store?.readPositions !== 'function' || typeof store.pubsubChannel !== 'function') {
      throw new InvalidOptionError('store', 'redisBus() needs { store }: a redisStore()');
    }
    assertBusValues(options);
    this.#store = options.store;
    this.#encode = options.encode ?? encodeBusEvent;
    this.#onError = options.onError ?? (() => {});
    this.#pageSize = options.pageSize ?? 1000;
    this.#maxBuffered = options.maxBuffered ?? 100_000;
    this.#closeStore = options.closeStore ?? false;
    this.#sharded = options.store.pubsub === 'sharded';
    this.#checkIntervalMs = options.checkIntervalMs ?? 10_000;
  }

  async start(sink: BusSink): Promise<void> {
    this.#sink = sink;
    const client = this.#store.client;
    // Subscriptions are restored by the sync after each reconnect, in order, before catching up.
    const sub =
      'nodes' in client && typeof client.nodes === 'function'
        ? (client as import('ioredis').Cluster).duplicate(undefined, {
            shardedSubscribers: this.#sharded,
            redisOptions: { ...client.options.redisOptions, autoResubscribe: false },
          })
        : (client as import('ioredis').Redis).duplicate({ autoResubscribe: false, enableOfflineQueue: true });
    this.#sub = sub;
    sub.on('error', (err: Error) => this.#report(err));
    sub.on(this.#sharded ? 'smessage' : 'message', (pubsubChannel: string, payload: string) =>
      this.#onMessage(pubsubChannel, payload),
    );
    // A dropped connection lost whatever was published meanwhile: resubscribe and catch up.
    sub.on('close', () => {
      for (const state of this.#channels.values()) state.subscribed = false;
    });
    sub.on('ready', () => this.#requestSync());
    if (this.#checkIntervalMs !== false) {
      // A cluster's sharded subscriber reconnects on its own, without 'close'/'ready' here; and a
      // lost last event on a quiet channel has no successor to reveal it. A periodic sync covers both.
      this.#checkTimer = setInterval(() => {
        if (this.#channels.size > 0) this.#requestSync();
      }, this.#checkIntervalMs);
      this.#checkTimer.unref();
    }
  }

  /** Resolves once the channel is subscribed and placed: every later event will be delivered. */
  subscribe(channel: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    let state = this.#channels.get(channel);
    if (state === undefined) {
      let resolveReady!: () => void;
      const ready = new Promise<void>((resolve) => {
        resolveReady = resolve;
      });
      state = { last: undefined, ready, resolveReady, subscribed: false };
      this.#channels.set(channel, state);
      this.#requestSync();
    }
    return state.ready;
  }

  unsubscribe(channel: string): void {
    const state = this.#channels.get(channel);
    if (state === undefined) return;
    this.#channels.delete(channel);
    state.resolveReady();
    const sub = this.#sub;
    if (sub !== undefined && state.subscribed) {
      const name = this.#store.pubsubChannel(channel);
      (this.#sharded ? sub.sunsubscribe(name) : sub.unsubscribe(name)).catch((err: unknown) =>
        this.#report(err),
      );
    }
    for (const w of this.#waiters) if (w.channel === channel) this.#settle(w);
  }

  /**
   * The batch was appended (and announced by the append script): resolve once each of its events
   * on a subscribed channel has been delivered here, so publish() means "delivered locally" as
   * with the in-process bus. Gives up waiting (resolving) after `timeoutMs`: the event is stored,
   * and a sync will deliver it or reset its channel.
   */
  publish(batch: readonly EncodedEvent[], timeoutMs = 5000): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const ev of batch) {
      const state = this.#channels.get(ev.channel);
      if (state === undefined || ev.seq === undefined) continue;
      if (state.last !== undefined && state.last >= ev.seq) continue;
      waits.push(
        new Promise<void>((resolve) => {
          this.#waiters.add({ channel: ev.channel, seq: ev.seq!, resolve });
        }),
      );
    }
    if (waits.length === 0) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    return Promise.race([Promise.all(waits).then(() => undefined), timeout]).finally(() =>
      clearTimeout(timer),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#checkTimer);
    for (const w of this.#waiters) this.#settle(w);
    for (const state of this.#channels.values()) state.resolveReady();
    this.#channels.clear();
    const sub = this.#sub;
    if (sub !== undefined) {
      try {
        await sub.quit();
      } catch {
        sub.disconnect();
      }
    }
    if (this.#closeStore) await this.#store.close();
  }

  // --- receiving --------------------------------------------------------------------------

  #onMessage(pubsubChannel: string, payload: string): void {
    const channel = this.#store.channelOf(pubsubChannel);
    if (channel === undefined || !this.#channels.has(channel)) return;
    let events: BusEvent[];
    try {
      events = parsePayload(channel, payload);
    } catch (err) {
      this.#report(err);
      return;
    }
    if (this.#syncing) {
      this.#bufferEvents(events);
      return;
    }
    const out: EncodedEvent[] = [];
    for (let i = 0; i < events.length; i++) {
      if (!this.#live(events[i]!, out)) {
        this.#bufferEvents(events.slice(i));
        this.#requestSync();
        break;
      }
    }
    this.#deliver(out);
  }

  /** Deliver `ev` if it continues its channel's chain; false when a sync is needed first. */
  #live(ev: BusEvent, out: EncodedEvent[]): boolean {
    const state = this.#channels.get(ev.channel);
    if (state === undefined) return true;
    if (ev.epoch !== this.#epoch || state.last === undefined) return false;
    if (ev.seq <= state.last) return true; // already delivered (by a sync)
    if (ev.prevSeq !== state.last) {
      this.stats.gaps++;
      return false;
    }
    state.last = ev.seq;
    out.push(this.#encode(ev));
    return true;
  }

  #bufferEvents(events: readonly BusEvent[]): void {
    if (this.#overflowed) return;
    if (this.#buffer.length + events.length > this.#maxBuffered) {
      // The store has them all: drop the buffer and let the sync read further.
      this.#buffer = [];
      this.#overflowed = true;
      return;
    }
    this.#buffer.push(...events);
  }

  #deliver(out: EncodedEvent[]): void {
    if (out.length === 0) return;
    this.stats.delivered += out.length;
    try {
      this.#sink?.deliver(out);
    } catch (err) {
      this.#report(err);
    }
    this.#settleWaiters();
  }

  /** Resolve the publish() waiters whose events are now delivered here (or never will be). */
  #settleWaiters(): void {
    if (this.#waiters.size === 0) return;
    for (const w of this.#waiters) {
      const state = this.#channels.get(w.channel);
      if (state === undefined || (state.last !== undefined && state.last >= w.seq)) this.#settle(w);
    }
  }

  #settle(w: { resolve: () => void }): void {
    this.#waiters.delete(w as never);
    w.resolve();
  }

  // --- syncing from the store ---------------------------------------------------------------

  #requestSync(): void {
    if (this.#closed || this.#sink === undefined) return;
    this.#syncWanted = true;
    if (this.#syncing) return;
    this.#syncing = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    void this.#syncLoop();
  }

  async #syncLoop(): Promise<void> {
    try {
      while (this.#syncWanted && !this.#closed) {
        this.#syncWanted = false;
        this.stats.syncs++;
        if (!(await this.#syncOnce())) {
          // The subscriber is (re)connecting: its 'ready' asks for the sync again.
          this.#syncWanted = true;
          break;
        }
        // Replay what arrived meanwhile through the live path; a new gap asks for another round.
        const buffered = this.#buffer;
        this.#buffer = [];
        if (this.#overflowed) {
          this.#overflowed = false;
          this.#syncWanted = true;
          continue;
        }
        const out: EncodedEvent[] = [];
        for (const ev of buffered) {
          // The read just fixed the epoch: an event of another epoch received meanwhile is stale
          // (a newer epoch shows again on the next event and starts another sync).
          if (ev.epoch !== this.#epoch) continue;
          if (this.#syncWanted) this.#bufferEvents([ev]);
          else if (!this.#live(ev, out)) {
            this.#bufferEvents([ev]);
            this.#syncWanted = true;
          }
        }
        this.#deliver(out);
      }
      if (!this.#syncWanted) this.#retryMs = RETRY_MIN_MS;
      this.#syncing = false;
    } catch (err) {
      // Redis is unreachable (or the subscriber is not connected yet): keep buffering, retry.
      this.#report(err);
      this.#syncWanted = true;
      if (this.#closed) return;
      this.#retryTimer = setTimeout(() => {
        this.#syncing = false;
        this.#requestSync();
      }, this.#retryMs);
      this.#retryTimer.unref();
      this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
    }
  }

  /** One sync round; false when the subscriber connection is not ready yet. */
  async #syncOnce(): Promise<boolean> {
    const sub = this.#sub!;
    // 1. Subscribe first, so nothing published after the read below can be missed.
    const missing = [...this.#channels].filter(([, s]) => !s.subscribed).map(([c]) => c);
    if (missing.length > 0) {
      if (sub.status !== 'ready') return false;
      const names = missing.map((c) => this.#store.pubsubChannel(c));
      if (this.#sharded) await sub.ssubscribe(...names);
      else await sub.subscribe(...names);
      for (const c of missing) {
        const state = this.#channels.get(c);
        if (state !== undefined) state.subscribed = true;
      }
    }
    // 2. Read from each channel's delivered position (new channels: "now"), page by page, in
    //    seq order across channels, in one round trip per page.
    for (;;) {
      const channels = [...this.#channels.keys()];
      if (channels.length === 0) return true;
      const positions = channels.map(
        (c) => [c, this.#channels.get(c)!.last ?? Number.MAX_SAFE_INTEGER] as const,
      );
      this.stats.storeReads++;
      const read = await this.#store.readPositions(positions, this.#pageSize);
      if (this.#epoch !== undefined && read.epoch !== this.#epoch) {
        // Redis lost its data: positions from the old epoch mean nothing now. Subscribers are
        // reset to this read's head, so each channel continues from its newest event as of this
        // same read (a later read could have skipped events appended in between, unannounced).
        const placed = channels.filter((c) => this.#channels.get(c)?.last !== undefined);
        for (const c of placed) this.#channels.get(c)!.last = read.lastSeq[c] ?? 0;
        this.#epoch = read.epoch;
        this.#reset(placed, 'unknown-id', { epoch: read.epoch, head: read.head });
        continue;
      }
      this.#epoch = read.epoch;
      for (const c of channels) {
        const state = this.#channels.get(c);
        if (state !== undefined && state.last === undefined) {
          state.last = read.lastSeq[c] ?? 0;
          state.resolveReady();
        }
      }
      // A channel placed after its events were appended has nothing to deliver for them (its
      // subscribers read them from the store); their publish() must not wait for an echo.
      this.#settleWaiters();
      // Channels that lost events to retention above their position restart at their newest.
      const expired: string[] = [];
      for (const c of read.gaps) {
        const state = this.#channels.get(c);
        if (state === undefined) continue;
        state.last = read.lastSeq[c] ?? state.last;
        expired.push(c);
      }
      this.#reset(expired, 'expired', { epoch: read.epoch, head: read.head });
      const out: EncodedEvent[] = [];
      for (const r of read.records as readonly ChainedRecord[]) {
        const state = this.#channels.get(r.channel);
        if (state === undefined || state.last === undefined || r.seq <= state.last) continue;
        state.last = r.seq;
        out.push(this.#encode({ ...r, epoch: read.epoch }));
      }
      this.#deliver(out);
      if (read.records.length < this.#pageSize) return true;
    }
  }

  #reset(channels: string[], reason: BusResetReason, at: { epoch: string; head: number }): void {
    if (channels.length === 0) return;
    this.stats.resets++;
    try {
      this.#sink?.reset?.(channels, reason, at);
    } catch (err) {
      this.#report(err);
    }
    // The reset stands for everything up to the channels' new position: publish() calls waiting
    // for an echo of those events must not wait out their timeout.
    this.#settleWaiters();
  }

  #report(err: unknown): void {
    if (this.#closed) return;
    const error = err instanceof Error ? err : new Error(String(err));
    try {
      this.#onError(error);
    } catch {
      // a throwing error handler must not break the bus
    }
  }
}

/** The cross-process EventBus over Redis pub/sub (sharded on Redis 7 by default). */
export function redisBus(options: RedisBusOptions): RedisBus {
  return new RedisBus(options);
}
