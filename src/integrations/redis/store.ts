// EventStore v2 on Redis: one namespace's history, sequence and epoch, shared by every process.
// Each operation is one script call (one round trip); see scripts.ts for the key layout.
import { InvalidOptionError } from 'express-eventstream';
import { type RedisOptions as IORedisOptions, Redis } from 'ioredis';
import {
  APPEND_LUA,
  type AppendReply,
  appendOutcome,
  appendRequest,
  newEpoch,
  pubsubName,
} from './append-script.js';
import { RedisClock, runScript, type Script, script, settleAppend, typedError } from './commands.js';
import { RedisUnavailableError } from './errors.js';
import { clientEndpoint, Link, type RedisClient, redactUrl } from './link.js';
import { assertKnownKeys, assertObject, assertRedisUrl, positiveInteger } from './options.js';
import { EPOCH_LUA, READ_LUA } from './scripts.js';
import type { AppendItem, AppendResult, ChainedRecord, EventStore, ReadResult } from './types.js';

export type { RedisClient } from './link.js';

export interface RedisStoreOptions {
  /** An ioredis client (Redis or Cluster) the store uses but does not close. */
  client?: RedisClient;
  /** Or a `redis://` URL: the store opens (and closes) its own client, tuned to fail fast. */
  url?: string;
  /** Names this history: processes sharing a namespace share ids and events. Default `'events'`. */
  namespace?: string;
  /** Prefix of every key and pub/sub channel. Default `'ees:'`. */
  keyPrefix?: string;
  /** Events kept per channel. Default 1000. A response stream's channel (`~stream/<id>`) is bounded by its `maxChunks` instead. */
  maxEventsPerChannel?: number;
  /** Events older than this (ms, Redis clock) are dropped. Default: no age limit. */
  maxAgeMs?: number;
  /**
   * How appends announce events: `'sharded'` (SPUBLISH, Redis ≥ 7; on a cluster only the shard
   * owning the namespace carries them) or `'classic'` (PUBLISH, any Redis). Default `'sharded'`.
   */
  pubsub?: 'sharded' | 'classic';
  /**
   * How long (ms) an append whose reply was lost is retried, with the same token, until Redis
   * says whether it was stored; Redis refuses any copy of it that arrives later. A publish
   * settles truthfully within twice this: resolved when stored (once), rejected when not; only
   * if Redis stays unreachable for all of that does it reject with `outcome: 'unknown'`.
   * Default 5000.
   */
  appendTimeoutMs?: number;
  /**
   * How long (ms) `publish(…, { idempotencyKey })` keys are remembered: a publish with a key
   * seen within this window is not stored again. One small key per event. Default 300 000.
   */
  idempotencyWindowMs?: number;
}

const NAMESPACE = /^[A-Za-z0-9_.:-]{1,64}$/;
const PREFIX = /^[A-Za-z0-9_.:-]{0,32}$/;
/** The longest wait between reconnect attempts of the store's own client. */
const RECONNECT_MAX_MS = 500;

/** Client options for clients the store opens itself: commands fail instead of queueing for long. */
const FAIL_FAST: IORedisOptions = {
  maxRetriesPerRequest: 1,
  commandTimeout: 5000,
  retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), RECONNECT_MAX_MS),
};

const APPEND = script(APPEND_LUA);
const READ = script(READ_LUA);
const EPOCH = script(EPOCH_LUA);

/** The keys redisStore() accepts. */
export const STORE_KEYS = [
  'client',
  'url',
  'namespace',
  'keyPrefix',
  'maxEventsPerChannel',
  'maxAgeMs',
  'pubsub',
  'appendTimeoutMs',
  'idempotencyWindowMs',
] as const;

export class RedisStore implements EventStore {
  /** @internal The bus duplicates it for subscribing. */
  readonly client: RedisClient;
  readonly namespace: string;
  /** @internal `SPUBLISH` or `PUBLISH`: what the append script announces with (a bus must subscribe alike). */
  readonly pubsub: 'sharded' | 'classic';
  /** Where the client goes: its URL without the password, named by every `RedisUnavailableError`. */
  readonly endpoint: string;
  readonly #owned: boolean;
  /** Why the store's own client is down, while it is (undefined for an application's client). */
  readonly #link: Link | undefined;
  readonly #maxEvents: number;
  readonly #maxAgeMs: number;
  /** `<prefix>{ns}:` */
  readonly #base: string;
  readonly #metaKeys: [string, string, string];
  readonly #appendTimeoutMs: number;
  readonly #idempotencyWindowMs: number;
  readonly #clock = new RedisClock();
  #closed = false;
  /** Appends reach Redis in call order (one connection), and a retry waits for those called before it. */
  readonly appendsInOrder = true;
  #lastAppend: Promise<unknown> = Promise.resolve();

  constructor(options: RedisStoreOptions = {}) {
    assertObject(options, 'options', 'redisStore() options');
    assertKnownKeys(options, STORE_KEYS);
    const namespace = options.namespace ?? 'events';
    if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
      throw new InvalidOptionError('namespace', 'namespace must be 1-64 of A-Z a-z 0-9 _ . : -');
    }
    const prefix = options.keyPrefix ?? 'ees:';
    if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
      throw new InvalidOptionError('keyPrefix', 'keyPrefix must be 0-32 of A-Z a-z 0-9 _ . : -');
    }
    const pubsub = options.pubsub ?? 'sharded';
    if (pubsub !== 'sharded' && pubsub !== 'classic') {
      throw new InvalidOptionError('pubsub', "pubsub must be 'sharded' or 'classic'");
    }
    this.#maxEvents = positiveInteger('maxEventsPerChannel', options.maxEventsPerChannel, 1000);
    this.#maxAgeMs = positiveInteger('maxAgeMs', options.maxAgeMs, 0);
    this.#appendTimeoutMs = positiveInteger('appendTimeoutMs', options.appendTimeoutMs, 5000);
    this.#idempotencyWindowMs = positiveInteger('idempotencyWindowMs', options.idempotencyWindowMs, 300_000);
    if (options.client !== undefined && options.url !== undefined) {
      throw new InvalidOptionError('url', 'pass either client or url, not both');
    }
    if (options.client !== undefined) {
      // Duck-typed: the app's ioredis may be another copy than the one this module resolves.
      if (typeof (options.client as Partial<Redis> | null)?.evalsha !== 'function') {
        throw new InvalidOptionError('client', 'client must be an ioredis Redis or Cluster');
      }
      this.client = options.client;
      this.#owned = false;
      this.#link = undefined;
      this.endpoint = clientEndpoint(options.client);
    } else if (options.url !== undefined) {
      assertRedisUrl(options.url);
      this.client = new Redis(options.url, FAIL_FAST);
      // Errors surface through rejected commands; the link's 'error' listener also keeps an
      // unhandled 'error' event from crashing the process.
      this.#link = new Link(this.client);
      this.#owned = true;
      this.endpoint = redactUrl(options.url);
    } else {
      throw new InvalidOptionError('client', 'redisStore() needs a client or a url');
    }
    this.namespace = namespace;
    this.pubsub = pubsub;
    this.#base = `${prefix}{${namespace}}:`;
    this.#metaKeys = [`${this.#base}epoch`, `${this.#base}seq`, `${this.#base}last`];
  }

  /** @internal The pub/sub channel carrying `channel`'s events (one for all response streams). */
  pubsubChannel(channel: string): string {
    return pubsubName(this.#base, channel);
  }

  /** @internal Inverse of pubsubChannel (undefined for other channels). */
  channelOf(pubsubChannel: string): string | undefined {
    const head = `${this.#base}p:`;
    return pubsubChannel.startsWith(head) ? pubsubChannel.slice(head.length) : undefined;
  }

  /** @internal A key of this namespace: `<prefix>{ns}:<rest>` (one cluster slot for all). */
  key(rest: string): string {
    return `${this.#base}${rest}`;
  }

  async epoch(): Promise<string> {
    return String(await this.#run('epoch', EPOCH, [this.#metaKeys[0]], [newEpoch()]));
  }

  /**
   * Appends all items or none. The request carries a fresh token and a deadline: Redis keeps the
   * reply under the token, so a retry (ours, or ioredis resending after a reconnect) returns it
   * instead of appending again, and refuses a copy arriving after the deadline. A failure without
   * an answer is retried until Redis answers (`appendTimeoutMs`), after the appends before it.
   */
  async append(
    items: ReadonlyArray<AppendItem>,
  ): Promise<{ epoch: string; events: readonly AppendResult[] }> {
    if (items.length === 0) return { epoch: await this.epoch(), events: [] };
    const started = Date.now();
    const offset = await this.#clock.offset(this.client, this.endpoint, () => this.#link?.failure);
    const { keys, args } = appendRequest(items, {
      base: this.#base,
      epochCandidate: newEpoch(),
      maxEvents: this.#maxEvents,
      maxAgeMs: this.#maxAgeMs,
      pubsub: this.pubsub,
      deadline: started + offset + this.#appendTimeoutMs,
      // Outlives every retry (they stop 2 × appendTimeoutMs after the start), with a margin for clocks.
      tokenTtlMs: 2 * this.#appendTimeoutMs + 5000,
      idempotencyWindowMs: this.#idempotencyWindowMs,
    });
    const settled = settleAppend(this.client, APPEND, keys, args, started + 2 * this.#appendTimeoutMs, {
      endpoint: this.endpoint,
      closed: () => this.#closed,
      failure: () => this.#link?.failure,
      before: this.#lastAppend,
    });
    this.#lastAppend = settled.catch(() => undefined);
    return appendOutcome((await settled) as AppendReply, items.length);
  }

  async readAfter(channels: readonly string[], afterSeq: number, limit?: number): Promise<ReadResult> {
    return this.readPositions(
      channels.map((c) => [c, afterSeq]),
      limit,
    );
  }

  /**
   * @internal readAfter with a position per channel, whose records also carry their channel's previous
   * seq: what a bus catching up several channels needs, in one round trip.
   */
  async readPositions(
    positions: ReadonlyArray<readonly [channel: string, afterSeq: number]>,
    limit?: number,
  ): Promise<ReadResult & { records: readonly ChainedRecord[] }> {
    for (const [, afterSeq] of positions) {
      if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
        throw new InvalidOptionError('afterSeq', 'afterSeq must be a non-negative safe integer');
      }
    }
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
      throw new InvalidOptionError('limit', 'limit must be a positive integer');
    }
    const channels = positions.map(([c]) => c);
    const keys: string[] = [...this.#metaKeys, ...channels.map((c) => this.key(`h:${c}`))];
    const args = [newEpoch(), String(limit ?? 0), String(this.#maxAgeMs)];
    for (const [c, afterSeq] of positions) args.push(c, String(afterSeq));
    const [epoch, head, lasts, gapFlags, flat] = (await this.#run('read', READ, keys, args)) as [
      string,
      number,
      number[],
      number[],
      Array<number | string>,
    ];
    const lastSeq: Record<string, number> = {};
    const gaps: string[] = [];
    channels.forEach((channel, i) => {
      lastSeq[channel] = Number(lasts[i] ?? 0);
      if (Number(gapFlags[i]) === 1) gaps.push(channel);
    });
    const records: ChainedRecord[] = [];
    for (let j = 0; j < flat.length; j += 4) {
      records.push({
        channel: channels[Number(flat[j]) - 1]!,
        seq: Number(flat[j + 1]),
        body: String(flat[j + 2]),
        prevSeq: Number(flat[j + 3]),
      });
    }
    return { epoch: String(epoch), records, gaps, head: Number(head), lastSeq };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (!this.#owned) return;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  /** Runs a read-side script; any failure is a typed error. */
  #run(operation: string, s: Script, keys: string[], args: string[]): Promise<unknown> {
    return this.command(operation, (client) => runScript(client, s, keys, args));
  }

  /**
   * @internal Runs a command of this namespace (the store's, the control channel's, the state's);
   * any failure is a typed error naming the endpoint.
   */
  async command<T>(operation: string, run: (client: RedisClient) => Promise<T>): Promise<T> {
    // While the own client is known to be down, wait for one reconnect attempt at most, then fail
    // with the connection's error instead of queueing until ioredis gives up: a subscriber gets its
    // answer in time, and the client keeps reconnecting.
    const link = this.#link;
    if (link?.failure !== undefined && !(await link.ready(RECONNECT_MAX_MS + 100))) {
      throw new RedisUnavailableError(operation, { cause: link.failure, endpoint: this.endpoint });
    }
    try {
      return await run(this.client);
    } catch (err) {
      // A command given up because the connection failed: the connection's error is the cause.
      throw typedError(operation, err, { cause: this.#link?.failure, endpoint: this.endpoint });
    }
  }
}

/** A shared event history on Redis (EventStore v2). */
export function redisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
