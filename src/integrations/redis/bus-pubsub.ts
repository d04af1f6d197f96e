// The bus' subscriber connection and the pub/sub channels Redis has it subscribed to. That set is
// kept equal to the channels with local subscribers, also when the last one leaves while the
// channel's SSUBSCRIBE is still in flight: the reply adds the channel, and it is dropped right
// after. Otherwise every client that leaves during its subscription would leave a subscription
// behind, receiving its channel's traffic for as long as the process runs.
import type { Cluster, Redis } from 'ioredis';
import { STREAM_CHANNEL_PREFIX } from '../../base/stream-limits.js';
import { Link, type RedisClient } from './link.js';
import type { RedisStore } from './store.js';

export interface PubSubHandlers {
  message(pubsubChannel: string, payload: string): void;
  /** The connection is (again) ready: nothing is subscribed on it yet. */
  ready(): void;
  /** A connection error; `down` when the connection is not usable. */
  error(err: Error, down: boolean): void;
}

export class PubSub {
  readonly client: RedisClient;
  readonly link: Link;
  readonly #store: RedisStore;
  readonly #sharded: boolean;
  readonly #handlers: PubSubHandlers;
  /** Pub/sub names Redis has this connection subscribed to, as of the replies received. */
  readonly #subscribed = new Set<string>();
  /** Pub/sub names whose (S)SUBSCRIBE is sent and not answered yet. */
  readonly #inFlight = new Set<string>();

  constructor(store: RedisStore, handlers: PubSubHandlers) {
    this.#store = store;
    this.#sharded = store.pubsub === 'sharded';
    this.#handlers = handlers;
    const client = store.client;
    // Subscriptions are restored by the bus' sync after each reconnect, in order, before catching up.
    this.client =
      'nodes' in client && typeof client.nodes === 'function'
        ? (client as Cluster).duplicate(undefined, {
            shardedSubscribers: this.#sharded,
            redisOptions: { ...client.options.redisOptions, autoResubscribe: false },
          })
        : (client as Redis).duplicate({ autoResubscribe: false, enableOfflineQueue: true });
    this.link = new Link(this.client);
    this.client.on('error', (err: Error) => handlers.error(err, !this.ready));
    this.client.on(this.#sharded ? 'smessage' : 'message', (name: string, payload: string) =>
      handlers.message(name, payload),
    );
    // A dropped connection loses its subscriptions (and whatever was published meanwhile).
    this.client.on('close', () => this.#subscribed.clear());
    this.client.on('ready', () => handlers.ready());
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** How many pub/sub channels Redis has this connection subscribed to. */
  get count(): number {
    return this.#subscribed.size;
  }

  /**
   * Subscribe the channels of `wanted` that are not yet; resolves once Redis confirmed them. Those
   * no longer in `wanted` by then are unsubscribed again at once.
   */
  async subscribe(wanted: ReadonlyMap<string, unknown>): Promise<void> {
    const missing: string[] = [];
    for (const channel of wanted.keys()) {
      const name = this.#store.pubsubChannel(channel);
      if (!this.#subscribed.has(name) && !this.#inFlight.has(name)) {
        // Several streams share one pub/sub channel: subscribed once.
        this.#inFlight.add(name);
        missing.push(name);
      }
    }
    if (missing.length === 0) return;
    try {
      if (this.#sharded) await this.client.ssubscribe(...missing);
      else await this.client.subscribe(...missing);
      for (const name of missing) this.#subscribed.add(name);
    } finally {
      for (const name of missing) this.#inFlight.delete(name);
    }
    const left = missing.filter((name) => !this.#wants(name, wanted));
    if (left.length > 0) this.#unsubscribe(left);
  }

  /**
   * `channel` has no local subscriber any more (one in flight is dropped when its reply comes);
   * `wanted`: the channels that still have one (a stream's pub/sub channel stays while any does).
   */
  unsubscribe(channel: string, wanted: ReadonlyMap<string, unknown>): void {
    const name = this.#store.pubsubChannel(channel);
    if (this.#subscribed.has(name) && !this.#wants(name, wanted)) this.#unsubscribe([name]);
  }

  /** Whether a channel of `wanted` is carried by the pub/sub channel `name`. */
  #wants(name: string, wanted: ReadonlyMap<string, unknown>): boolean {
    if (name !== this.#store.pubsubChannel(STREAM_CHANNEL_PREFIX))
      return wanted.has(this.#store.channelOf(name)!);
    for (const channel of wanted.keys()) if (channel.startsWith(STREAM_CHANNEL_PREFIX)) return true;
    return false;
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  #unsubscribe(names: string[]): void {
    for (const name of names) this.#subscribed.delete(name);
    // Sent at once, on the same connection as any later (S)SUBSCRIBE of the same name: Redis
    // applies them in order.
    (this.#sharded ? this.client.sunsubscribe(...names) : this.client.unsubscribe(...names)).catch(
      (err: unknown) => this.#handlers.error(err instanceof Error ? err : new Error(String(err)), false),
    );
  }
}
