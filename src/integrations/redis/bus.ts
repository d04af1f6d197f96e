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
import { type EncodedEvent, Events, InvalidOptionError } from 'express-eventstream';
import { STREAM_CHANNEL_PREFIX } from '../../base/stream-limits.js';
import { type OutageReport, packageInternals } from '../../compose/internal-key.js';
import { Chain, parsePayload, placement } from './bus-chain.js';
import { Echoes } from './bus-echo.js';
import { BUS_KEYS, encodeBusEvent, type RedisBusOptions } from './bus-options.js';
import { PubSub } from './bus-pubsub.js';
import { SyncLoop } from './bus-sync.js';
import { RedisUnavailableError } from './errors.js';
import { assertBusValues, assertKnownKeys, assertObject } from './options.js';
import type { RedisStore } from './store.js';
import type { BusEvent, BusResetReason, BusSink, EventBus } from './types.js';

const DONE = Promise.resolve();
/** What the response streams' pub/sub messages carry: chunks of `~stream/` channels only. */
const STREAMS = { prefix: STREAM_CHANNEL_PREFIX };

export class RedisBus implements EventBus {
  readonly #store: RedisStore;
  readonly #encode: (event: BusEvent) => EncodedEvent;
  readonly #onError: (error: Error) => void;
  readonly #pageSize: number;
  readonly #closeStore: boolean;
  #pubsub: PubSub | undefined;
  #sink: BusSink | undefined;
  readonly #chain: Chain;
  /** The chain's channels: those with local subscribers. */
  readonly #channels: Chain['channels'];
  readonly #sync = new SyncLoop(
    () => this.#syncRound(),
    (err) => {
      const error = this.#unavailable('subscribe', err);
      this.#report(error);
      this.#chain.failWaiting(error);
    },
  );
  #checkTimer: NodeJS.Timeout | undefined;
  readonly #checkIntervalMs: number | false;
  #closed = false;
  /** Whether the last failure was handed to the sink: one report per outage, not one per retry. */
  readonly #outages: OutageReport = packageInternals(Events).outageReport(
    (error) => this.#onError(error),
    () => this.#sink,
  );
  /** publish() callers waiting for their events' echo. */
  readonly #echoes = new Echoes((channel) => {
    const state = this.#channels.get(channel);
    return state === undefined ? null : state.last;
  });
  /** @internal Counters for tests and benchmarks; `channels` and `subscribed` are current sizes. */
  // `channels`: those with local subscribers; `subscribed`: those Redis has this bus subscribed to.
  readonly stats = { delivered: 0, syncs: 0, storeReads: 0, gaps: 0, resets: 0, channels: 0, subscribed: 0 };

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
    this.#chain = new Chain(options.maxBuffered ?? 100_000, this.#encode);
    this.#channels = this.#chain.channels;
    this.#closeStore = options.closeStore ?? false;
    this.#checkIntervalMs = options.checkIntervalMs ?? 10_000;
    Object.defineProperties(this.stats, {
      gaps: { enumerable: true, get: () => this.#chain.gaps },
      channels: { enumerable: true, get: () => this.#channels.size },
      subscribed: { enumerable: true, get: () => this.#pubsub?.count ?? 0 },
    });
  }

  async start(sink: BusSink): Promise<void> {
    this.#sink = sink;
    this.#pubsub = new PubSub(this.#store, {
      message: (name, payload) => this.#onMessage(name, payload),
      // Resubscribe and catch up: whatever was published while disconnected was lost.
      ready: () => this.#requestSync(),
      error: (err, down) => {
        const error = this.#unavailable('subscriber connection', err);
        this.#report(error);
        // Subscribers waiting for a channel get the answer now, not when Redis is back.
        if (down) this.#chain.failWaiting(error);
      },
    });
    if (this.#checkIntervalMs !== false) {
      // A cluster's sharded subscriber reconnects on its own, without 'close'/'ready' here; and a
      // lost last event on a quiet channel has no successor to reveal it. A periodic sync covers both.
      this.#checkTimer = setInterval(() => {
        if (this.#channels.size > 0) this.#requestSync();
      }, this.#checkIntervalMs);
      this.#checkTimer.unref();
    }
  }

  /**
   * Resolves once the channel is subscribed and placed: every later event will be delivered.
   * Rejects with a `RedisUnavailableError` while Redis cannot be reached; the channel stays
   * wanted, and the next call waits for the next attempt.
   */
  subscribe(channel: string): Promise<void> {
    if (this.#closed) return DONE;
    let state = this.#channels.get(channel);
    if (state === undefined) {
      state = { last: undefined, waiting: undefined };
      this.#channels.set(channel, state);
      this.#requestSync();
    }
    if (state.last !== undefined) return DONE;
    const pubsub = this.#pubsub;
    const down = pubsub?.ready === false ? pubsub.link.failure : undefined;
    if (down !== undefined) return Promise.reject(this.#unavailable('subscribe', down));
    return placement(state);
  }

  unsubscribe(channel: string): void {
    const state = this.#channels.get(channel);
    if (state === undefined) return;
    this.#channels.delete(channel);
    state.waiting?.resolve();
    this.#pubsub?.unsubscribe(channel, this.#channels);
    this.#echoes.settleDelivered();
  }

  /**
   * The batch was appended (and announced by the append script): resolve once each of its events
   * on a subscribed channel has been delivered here, so publish() means "delivered locally" as
   * with the in-process bus. Gives up waiting (resolving) after `timeoutMs`: the event is stored,
   * and a sync will deliver it or reset its channel.
   */
  publish(batch: readonly EncodedEvent[], timeoutMs = 5000): Promise<void> {
    return this.#echoes.wait(batch, timeoutMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sync.stop();
    clearInterval(this.#checkTimer);
    this.#echoes.settleAll();
    for (const state of this.#channels.values()) state.waiting?.resolve();
    this.#channels.clear();
    await this.#pubsub?.close();
    if (this.#closeStore) await this.#store.close();
  }

  // --- receiving --------------------------------------------------------------------------

  #onMessage(pubsubChannel: string, payload: string): void {
    const streams = pubsubChannel === this.#store.pubsubChannel(STREAM_CHANNEL_PREFIX);
    const channel = streams ? '' : this.#store.channelOf(pubsubChannel);
    if (channel === undefined || (!streams && !this.#channels.has(channel))) return;
    let events: BusEvent[];
    try {
      events = parsePayload(channel, payload, streams ? STREAMS : undefined);
    } catch (err) {
      this.#report(err);
      return;
    }
    // Every stream's chunks come on one channel: only those of streams read here go on.
    if (streams) events = events.filter((ev) => this.#channels.has(ev.channel));
    if (events.length === 0) return;
    if (this.#sync.running) {
      this.#chain.buffer(events);
      return;
    }
    const out: EncodedEvent[] = [];
    for (let i = 0; i < events.length; i++) {
      if (!this.#chain.live(events[i]!, out)) {
        this.#chain.buffer(events.slice(i));
        this.#requestSync();
        break;
      }
    }
    this.#deliver(out);
  }

  #deliver(out: EncodedEvent[]): void {
    if (out.length === 0) return;
    this.stats.delivered += out.length;
    try {
      this.#sink?.deliver(out);
    } catch (err) {
      this.#report(err);
    }
    this.#echoes.settleDelivered();
  }

  // --- syncing from the store ---------------------------------------------------------------

  /** A round of the sync loop: subscribe, catch up, then replay what arrived meanwhile. */
  async #syncRound(): Promise<boolean> {
    this.stats.syncs++;
    if (!(await this.#syncOnce())) return false;
    this.#outages.recovered();
    const out: EncodedEvent[] = [];
    if (!this.#chain.replayBuffer(out)) this.#sync.request();
    this.#deliver(out);
    return true;
  }

  /** One sync round; false when the subscriber connection is not ready yet. */
  #requestSync(): void {
    if (this.#sink !== undefined) this.#sync.request();
  }

  async #syncOnce(): Promise<boolean> {
    const pubsub = this.#pubsub!;
    // 1. Subscribe first, so nothing published after the read below can be missed.
    if (!pubsub.ready) return false;
    await pubsub.subscribe(this.#channels);
    // 2. Read from each channel's delivered position (new channels: "now"), page by page, in
    //    seq order across channels, in one round trip per page.
    for (;;) {
      const channels = [...this.#channels.keys()];
      if (channels.length === 0) return true;
      const positions = this.#chain.positions();
      this.stats.storeReads++;
      const read = await this.#store.readPositions(positions, this.#pageSize);
      const at = { epoch: read.epoch, head: read.head };
      const moved = this.#chain.newEpoch(read, channels);
      if (moved !== undefined) {
        this.#reset(moved, 'unknown-id', at);
        continue;
      }
      const out: EncodedEvent[] = [];
      const expired = this.#chain.apply(read, channels, out);
      // A channel placed after its events were appended has nothing to deliver for them (its
      // subscribers read them from the store); their publish() must not wait for an echo.
      this.#echoes.settleDelivered();
      this.#reset(expired, 'expired', at);
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
    this.#echoes.settleDelivered();
  }

  /** `err` as a RedisUnavailableError naming the endpoint; the connection's error if it is down. */
  #unavailable(operation: string, err: unknown): Error {
    if ((err as { code?: unknown } | null)?.code === 'ERR_SSE_REDIS') return err as Error;
    const cause = this.#pubsub?.link.failure ?? err;
    return new RedisUnavailableError(operation, { cause, endpoint: this.#store.endpoint });
  }

  /** Every failure to `onError`; the first of an outage also to the sink (`'error'` of events()). */
  #report(err: unknown): void {
    if (!this.#closed) this.#outages.report(err);
  }
}

/** The cross-process EventBus over Redis pub/sub (sharded on Redis 7 by default). */
export function redisBus(options: RedisBusOptions): RedisBus {
  return new RedisBus(options);
}
