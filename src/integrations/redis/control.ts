// The control channel on Redis: one pub/sub channel per namespace (`<prefix>{ns}:c`, sharded like
// the bus' when the store's pubsub is), carrying the core's control message text. Redis pub/sub is
// at most once, which is what the seam promises; what it cannot promise is noticed instead: when
// the subscriber connection was lost (or Redis restarted), the sink is told to resync once, after
// the channel is subscribed again, so features re-read their shared state.
//
// A dedicated subscriber connection rather than the bus': the bus subscribes its connection
// channel by channel in its sync loop and restores subscriptions only there (autoResubscribe off),
// and a standalone channel (no bus) needs one anyway. It costs one connection per process.
import { debuglog } from 'node:util';
import { Events, InvalidOptionError } from 'express-eventstream';
import type { Cluster, Redis } from 'ioredis';
import { type PackageInternals, packageInternals } from '../../compose/internal-key.js';
import { RedisUnavailableError } from './errors.js';
import type { RedisClient } from './link.js';
import type { RedisStore } from './store.js';
import type { ControlChannel, ControlSink, JsonValue } from './types.js';

const wire: PackageInternals['control'] = packageInternals(Events).control;
const log = debuglog('express-eventstream');

/** How long send() waits for Redis to take a message before rejecting. */
const SEND_TIMEOUT_MS = 5000;

/** The options of `redisControl()`. */
export interface RedisControlOptions {
  /** The Redis store whose connection (duplicated for subscribing), namespace and prefix it shares. */
  store: RedisStore;
}

/**
 * Control messages between the processes of a namespace over Redis pub/sub: every process
 * subscribed when a message is sent receives it once, in the order each process sent them. A
 * message that is not the library's (foreign or corrupt text on the channel) is dropped. After the
 * subscriber connection was down, the namespace is told to resync (its features re-read shared
 * state). `send()` rejects with `RedisUnavailableError` naming the endpoint when Redis does not
 * take the message within 5 s (at once when the connection is known to be down).
 */
export class RedisControl implements ControlChannel {
  readonly #store: RedisStore;
  readonly #channel: string;
  readonly #sharded: boolean;
  #subscriber: RedisClient | undefined;
  #sink: ControlSink | undefined;
  #closed = false;
  /** The subscription was lost (or never made after a failure): resync once it is back. */
  #outage = false;
  /** Whether this outage was reported yet: one `'error'` per outage, not one per retry. */
  #reported = false;
  /** @internal Counters for tests and benchmarks. */
  readonly stats = { received: 0, dropped: 0, resyncs: 0 };

  constructor(options: RedisControlOptions) {
    const store = (options as Partial<RedisControlOptions> | null | undefined)?.store as
      | Partial<RedisStore>
      | undefined;
    // Duck-typed, like the bus' store: a second copy of this module makes another class.
    if (typeof store?.command !== 'function' || typeof store.key !== 'function') {
      throw new InvalidOptionError('store', 'redisControl() needs { store }: a redisStore()');
    }
    this.#store = options.store;
    this.#channel = options.store.key('c');
    this.#sharded = options.store.pubsub === 'sharded';
  }

  /** Opens the subscriber connection; resolves once the channel is subscribed (or closed). */
  start(sink: ControlSink): Promise<void> {
    this.#sink = sink;
    const client = this.#store.client;
    const subscriber =
      'nodes' in client && typeof client.nodes === 'function'
        ? (client as Cluster).duplicate(undefined, { shardedSubscribers: this.#sharded })
        : (client as Redis).duplicate({ autoResubscribe: false, enableOfflineQueue: true });
    this.#subscriber = subscriber;
    subscriber.on(this.#sharded ? 'smessage' : 'message', (name: string, text: string) =>
      this.#receive(name, text),
    );
    subscriber.on('error', (err: unknown) => this.#down(err));
    subscriber.on('close', () => this.#down(undefined));
    return new Promise((resolve) => {
      const subscribe = () => {
        this.#subscribe().then(resolve, (err: unknown) => this.#down(err));
      };
      subscriber.on('ready', subscribe);
      if (subscriber.status === 'ready') subscribe();
    });
  }

  /** Publishes `payload` on `topic` to every subscribed process, this one included. */
  send(topic: string, payload: JsonValue): Promise<void> {
    // Checked (and refused with InvalidOptionError) before anything is sent, as LocalControl does.
    const text = wire.encodeControlMessage(topic, payload);
    if (this.#closed) return Promise.resolve();
    const sending = this.#store.command('control send', async (client) => {
      if (this.#sharded) await client.spublish(this.#channel, text);
      else await client.publish(this.#channel, text);
    });
    return withinTime(sending, SEND_TIMEOUT_MS, this.#store.endpoint);
  }

  /** Closes the subscriber connection (the store's connection is the store's). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const subscriber = this.#subscriber;
    if (subscriber === undefined) return;
    try {
      await subscriber.quit();
    } catch {
      subscriber.disconnect();
    }
  }

  async #subscribe(): Promise<void> {
    const subscriber = this.#subscriber!;
    if (this.#closed) return;
    if (this.#sharded) await subscriber.ssubscribe(this.#channel);
    else await subscriber.subscribe(this.#channel);
    this.#reported = false;
    if (!this.#outage) return;
    // Subscribed again: whatever was sent meanwhile is lost, so features re-read their state.
    this.#outage = false;
    this.stats.resyncs++;
    this.#sink?.resync?.();
  }

  #receive(name: string, text: string): void {
    if (name !== this.#channel || this.#closed) return;
    const message = wire.decodeControlMessage(text);
    if (message === undefined) {
      // Foreign or corrupt: never delivered. Its length only: the text itself is not ours to log.
      this.stats.dropped++;
      log('dropped a control message that is not ours (%d characters) on %s', text.length, this.#channel);
      return;
    }
    this.stats.received++;
    this.#sink?.receive(message.topic, message.payload);
  }

  #down(err: unknown): void {
    if (this.#closed) return;
    this.#outage = true;
    if (err === undefined || this.#reported) return;
    this.#reported = true;
    const error = new RedisUnavailableError('control subscriber connection', {
      cause: err,
      endpoint: this.#store.endpoint,
    });
    try {
      this.#sink?.report?.(error);
    } catch {
      // a throwing sink must not break the channel
    }
  }
}

/** `attempt`, or a RedisUnavailableError naming `endpoint` when it has not settled in `ms`. */
function withinTime(attempt: Promise<void>, ms: number, endpoint: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const cause = new Error(`no answer within ${ms} ms`);
      reject(new RedisUnavailableError('control send', { cause, endpoint }));
    }, ms);
  });
  attempt.catch(() => undefined);
  return Promise.race([attempt, late]).finally(() => clearTimeout(timer));
}

/** The control channel of a namespace on Redis, over a store's connection and namespace. */
export function redisControl(options: RedisControlOptions): RedisControl {
  return new RedisControl(options);
}
