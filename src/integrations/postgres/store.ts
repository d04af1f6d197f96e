// EventStore on PostgreSQL: one namespace's history, sequence and epoch in tables shared by every
// process (schema.ts). Each operation is one statement (one round trip); appends and the
// sequencer run as SQL functions under the namespace row's lock, so seq order is commit order.
import { InvalidOptionError } from 'express-eventstream';
import type pg from 'pg';
import { appendEvents, newEpoch } from './append.js';
import { Database } from './database.js';
import type { TransactionClient } from './link.js';
import {
  assertChannelNamesFit,
  assertKnownKeys,
  assertObject,
  duration,
  encodeForStore,
  namespaceOption,
  positiveInteger,
  prefixOption,
} from './options.js';
import { readStatement, toReadResult } from './read.js';
import { checkEpoch } from './records.js';
import { type SchemaNames, schemaNames } from './schema.js';
import type { AppendItem, AppendResult, ChainedRead, EventStore, ReadResult } from './types.js';

export type { TransactionClient } from './link.js';

export interface PostgresStoreOptions {
  /** A `postgres://` URL: the store opens (and closes) its own pool. */
  url?: string;
  /** Or a `pg` Pool the store uses but does not close. */
  pool?: pg.Pool;
  /** Names this history: processes sharing a namespace share ids and events. Default `'events'`. */
  namespace?: string;
  /** Prefix of every table and function name. Default `'ees_'`. */
  tablePrefix?: string;
  /** Create the tables and functions on first use (idempotent). Default true. */
  migrate?: boolean;
  /** Events kept per channel. Default 1000. A response stream's channel (`~stream/<id>`) is bounded by its `maxChunks` instead. */
  maxEventsPerChannel?: number;
  /** Events older than this (ms, database clock) are dropped. Default: no age limit. */
  maxAgeMs?: number;
  /** Retention runs after appends, at most once per this many ms. Default 1000. */
  trimIntervalMs?: number;
  /** How long (ms) an operation waits for a free pooled connection before it fails. Default 5000. */
  acquireTimeoutMs?: number;
  /** Own pool: how long (ms) a statement may take before it fails. Default 10 000. */
  statementTimeoutMs?: number;
  /** Own pool: its size. Default 10. */
  poolSize?: number;
  /**
   * How long (ms) `publish(…, { idempotencyKey })` keys are remembered: a publish with a key
   * seen within this window is not stored again. One small row per key. Default 300 000.
   */
  idempotencyWindowMs?: number;
}

/** The keys postgresStore() accepts. */
export const STORE_KEYS = [
  'url',
  'pool',
  'namespace',
  'tablePrefix',
  'migrate',
  'maxEventsPerChannel',
  'maxAgeMs',
  'trimIntervalMs',
  'acquireTimeoutMs',
  'statementTimeoutMs',
  'poolSize',
  'idempotencyWindowMs',
] as const;

/** Rows deleted per retention statement: short transactions, no long locks. */
const TRIM_BATCH = 5000;

export class PostgresStore implements EventStore {
  readonly namespace: string;
  /** Where the pool goes: its URL without the password, named by every PostgresUnavailableError. */
  readonly endpoint: string;
  /** @internal The pool (the bus' LISTEN connection reuses its configuration). */
  readonly pool: pg.Pool;
  /** @internal The notification channel of new events (`<prefix><namespace>`). */
  readonly wakeChannel: string;
  /** @internal The notification channel of committed transactional publishes. */
  readonly outboxChannel: string;
  /** @internal The notification channel of control messages (`<prefix><namespace>.control`). */
  readonly controlChannel: string;
  /** @internal The engine's table and function names. */
  readonly names: SchemaNames;
  readonly #names: SchemaNames;
  readonly #prefix: string;
  readonly #db: Database;
  readonly #maxEvents: number;
  readonly #maxAgeMs: number;
  readonly #trimIntervalMs: number;
  readonly #statementTimeoutMs: number;
  readonly #keyWindowMs: number;
  #lastTrim = 0;
  #trimming = false;
  /** This process' appends awaiting their answer. */
  readonly #appending = new Set<Promise<unknown>>();

  constructor(options: PostgresStoreOptions = {}) {
    assertObject(options, 'options', 'postgresStore() options');
    assertKnownKeys(options, STORE_KEYS);
    this.namespace = namespaceOption(options.namespace);
    this.#prefix = prefixOption(options.tablePrefix);
    assertChannelNamesFit(this.#prefix, this.namespace);
    this.#names = schemaNames(this.#prefix);
    if (options.migrate !== undefined && typeof options.migrate !== 'boolean') {
      throw new InvalidOptionError('migrate', 'migrate must be a boolean');
    }
    this.#maxEvents = positiveInteger('maxEventsPerChannel', options.maxEventsPerChannel, 1000);
    this.#maxAgeMs = positiveInteger('maxAgeMs', options.maxAgeMs, 0);
    this.#trimIntervalMs = duration('trimIntervalMs', options.trimIntervalMs, 1000);
    this.#statementTimeoutMs = duration('statementTimeoutMs', options.statementTimeoutMs, 10_000);
    this.#keyWindowMs = positiveInteger('idempotencyWindowMs', options.idempotencyWindowMs, 300_000);
    this.#db = new Database({
      url: options.url,
      pool: options.pool,
      prefix: this.#prefix,
      migrate: options.migrate ?? true,
      acquireTimeoutMs: duration('acquireTimeoutMs', options.acquireTimeoutMs, 5000),
      statementTimeoutMs: this.#statementTimeoutMs,
      poolSize: positiveInteger('poolSize', options.poolSize, 10),
    });
    this.pool = this.#db.pool;
    this.endpoint = this.#db.endpoint;
    this.wakeChannel = `${this.#prefix}${this.namespace}`;
    this.outboxChannel = `${this.#prefix}${this.namespace}.outbox`;
    this.controlChannel = `${this.#prefix}${this.namespace}.control`;
    this.names = this.#names;
  }

  /**
   * @internal One statement on the store's pool (after the migration), with its bounded waits;
   * failures are PostgresUnavailableError naming the endpoint. For the control channel and state.
   */
  statement(operation: string, text: string, values: unknown[]): Promise<pg.QueryResult> {
    return this.#db.run(operation, text, values);
  }

  async epoch(): Promise<string> {
    const n = this.#names;
    const text = `WITH created AS (INSERT INTO ${n.namespaces} (ns, epoch, head) VALUES ($1, $2, 0)
         ON CONFLICT (ns) DO NOTHING RETURNING epoch)
       SELECT epoch FROM created UNION ALL SELECT epoch FROM ${n.namespaces} WHERE ns = $1`;
    let r = await this.#db.run('epoch', text, [this.namespace, newEpoch()]);
    // Two processes creating the namespace at once: the insert that lost waited for the winner's
    // commit, but its SELECT reads the snapshot taken before, so neither branch has a row. A second
    // statement takes a fresh snapshot and sees the committed row.
    if (r.rows.length === 0) r = await this.#db.run('epoch', text, [this.namespace, newEpoch()]);
    return checkEpoch(r.rows[0]?.epoch, n.namespaces, 'epoch');
  }

  /**
   * @internal Settles once every append in flight now has its answer (undefined: none in flight).
   * Appends started later do not hold it up.
   */
  appendsSettled(): Promise<unknown> | undefined {
    return this.#appending.size === 0 ? undefined : Promise.allSettled([...this.#appending]);
  }

  /** Appends all items or none, in one transaction (see schema.ts for why seq order is commit order). */
  append(items: ReadonlyArray<AppendItem>): Promise<{ epoch: string; events: readonly AppendResult[] }> {
    const appending = this.#append(items);
    this.#appending.add(appending);
    const done = () => this.#appending.delete(appending);
    appending.then(done, done);
    return appending;
  }

  async #append(
    items: ReadonlyArray<AppendItem>,
  ): Promise<{ epoch: string; events: readonly AppendResult[] }> {
    if (items.length === 0) return { epoch: await this.epoch(), events: [] };
    const result = await appendEvents(this.#db, this.#names, this.namespace, items, {
      epoch: newEpoch(),
      waitMs: Math.max(1, Math.floor(this.#statementTimeoutMs / 2)),
      keyWindowMs: this.#keyWindowMs,
    });
    this.#maybeTrim();
    return result;
  }

  /** Events on `channels` after `afterSeq`, with the epoch, head and gaps: one statement, one snapshot. */
  readAfter(channels: readonly string[], afterSeq: number, limit?: number): Promise<ReadResult> {
    return this.readChained(channels, afterSeq, limit);
  }

  /** @internal readAfter whose records carry their channel's previous seq (what the bus delivers). */
  async readChained(channels: readonly string[], afterSeq: number, limit?: number): Promise<ChainedRead> {
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
      throw new InvalidOptionError('afterSeq', 'afterSeq must be a non-negative safe integer');
    }
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
      throw new InvalidOptionError('limit', 'limit must be a positive integer');
    }
    const values = [this.namespace, channels, afterSeq, limit ?? null];
    let r = await this.#db.run('read', readStatement(this.#names), values);
    if (r.rows.every((row) => row.k !== 'n')) {
      // No namespace row yet (a new database): create the epoch, read again.
      await this.epoch();
      r = await this.#db.run('read', readStatement(this.#names), values);
    }
    return toReadResult(r.rows, channels, afterSeq, this.#names);
  }

  /**
   * Publish inside the caller's transaction: the event is written to the outbox with `client`
   * (a pg Client or PoolClient in a transaction, or anything with `query(text, values)`), and
   * reaches the log, every process and every client only if and after that transaction
   * commits. A rollback leaves nothing: no event, no sequence number. The event is checked as
   * `publish()` checks it (InvalidEventError, InvalidChannelError). It takes no idempotency key:
   * the caller's transaction is what makes it happen once (a rollback stores nothing).
   */
  async publishIn(client: TransactionClient, channel: string, event: unknown): Promise<void> {
    const body = encodeForStore(channel, event);
    if (typeof (client as Partial<TransactionClient> | null)?.query !== 'function') {
      throw new InvalidOptionError('client', 'publishIn() needs a pg client (anything with query())');
    }
    await this.#db.ready();
    await client.query(
      `WITH queued AS (INSERT INTO ${this.#names.outbox} (ns, channel, body) VALUES ($1, $2, $3) RETURNING 1)
       SELECT pg_notify($4, '') FROM queued`,
      [this.namespace, channel, body, this.outboxChannel],
    );
  }

  /**
   * @internal The sequencer: moves committed outbox rows into the log. Returns how many it moved
   * (-1: another process holds the sequencer lock and is doing it).
   */
  async sequence(limit = 1000): Promise<number> {
    let moved = 0;
    for (;;) {
      const r = await this.#db.run('sequence', `SELECT ${this.#names.sequence}($1, $2, $3) AS n`, [
        this.namespace,
        newEpoch(),
        limit,
      ]);
      const n = Number(r.rows[0]?.n ?? 0);
      if (n < 0) return moved === 0 ? -1 : moved;
      moved += n;
      if (n < limit) return moved;
    }
  }

  /** @internal Retention now: batch after batch until nothing is over the limits. */
  async trim(): Promise<number> {
    let deleted = 0;
    for (let round = 0; round < 100; round++) {
      const r = await this.#db.run('trim', `SELECT ${this.#names.trim}($1, $2, $3, $4) AS n`, [
        this.namespace,
        this.#maxEvents,
        this.#maxAgeMs,
        TRIM_BATCH,
      ]);
      const n = Number(r.rows[0]?.n ?? 0);
      deleted += n;
      if (n === 0) break;
    }
    return deleted;
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  #maybeTrim(): void {
    const now = Date.now();
    if (this.#trimming || now - this.#lastTrim < this.#trimIntervalMs) return;
    this.#lastTrim = now;
    this.#trimming = true;
    // Off the publish path: a failed trim is retried after the next append.
    this.trim()
      .catch(() => {})
      .finally(() => {
        this.#trimming = false;
      });
  }
}

/** A shared event history on PostgreSQL (an EventStore). */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  return new PostgresStore(options);
}
