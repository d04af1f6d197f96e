// The EventBus over PostgreSQL: NOTIFY is only a wake-up, the events table is the message.
//
// Every process keeps ONE position in the namespace's sequence (the head it has read up to) and,
// when woken, reads the events after it on its subscribed channels: one statement per page, in
// seq order across channels, with the head of the same snapshot. Because seq order is commit order
// (schema.ts), every event at or below that head is visible in that snapshot, so the position can
// move to the head without ever skipping a row that commits later. Wake-ups are coalesced (one
// read in flight, one more requested at most), so a burst of notifications costs a read or two; a
// lost notification (a dropped LISTEN connection, a restart) costs nothing but latency: the
// listener's reconnect and a periodic check read what is new. Committed transactional publishes
// wake the sequencer, which moves them from the outbox into the log (store.sequence()).
import { type EncodedEvent, Events, InvalidOptionError } from 'express-eventstream';
import { type OutageReport, packageInternals } from '../../compose/internal-key.js';
import { DeferredWake } from './deferred-wake.js';
import { Echoes } from './echoes.js';
import { PostgresUnavailableError } from './errors.js';
import { Listener } from './listener.js';
import { assertKnownKeys, assertObject, duration, encodeStoredEvent, positiveInteger } from './options.js';
import type { PostgresStore } from './store.js';
import type { BusResetReason, BusSink, ChainedRecord, EventBus } from './types.js';
import { Wakeable } from './wakeable.js';

export interface PostgresBusOptions {
  /** The history it delivers from: a postgresStore(). */
  store: PostgresStore;
  /** Close the store when the bus closes (postgres() sets it). Default false. */
  closeStore?: boolean;
  /** Events read per statement while catching up. Default 1000. */
  pageSize?: number;
  /**
   * How often (ms) the bus reads and runs the sequencer without a wake-up, in case one was lost;
   * `false`: never. Default 1000.
   */
  checkIntervalMs?: number | false;
  /** Every failure (reads, the LISTEN connection, the sequencer). */
  onError?: (error: Error) => void;
}

/** The keys postgresBus() accepts. */
export const BUS_KEYS = ['store', 'closeStore', 'pageSize', 'checkIntervalMs', 'onError'] as const;

export class PostgresBus implements EventBus {
  /** Counters: reads, events delivered here, resets, outbox events moved, wake-ups (skipped: no read
   * needed), this process' events delivered without a read (own). */
  readonly stats = { reads: 0, delivered: 0, resets: 0, sequenced: 0, wakes: 0, skipped: 0, own: 0 };
  readonly #store: PostgresStore;
  readonly #closeStore: boolean;
  readonly #pageSize: number;
  readonly #checkIntervalMs: number | false;
  readonly #onError: (error: Error) => void;
  readonly #channels = new Set<string>();
  readonly #reader = new Wakeable(() => this.#read());
  readonly #sequencer = new Wakeable(() => this.#sequence());
  #listener: Listener | undefined;
  #sink: BusSink | undefined;
  #timer: NodeJS.Timeout | undefined;
  #position: number | undefined;
  #epoch: string | undefined;
  readonly #echoes = new Echoes();
  readonly #deferred = new DeferredWake(
    () => this.#reader.wake(),
    () => this.#position,
  );
  readonly #outages: OutageReport = packageInternals(Events).outageReport(
    (error) => this.#onError(error),
    () => this.#sink,
  );
  #closed = false;

  constructor(options: PostgresBusOptions) {
    assertObject(options, 'options', 'postgresBus() options');
    assertKnownKeys(options, BUS_KEYS);
    if (typeof (options.store as Partial<PostgresStore> | null)?.sequence !== 'function') {
      throw new InvalidOptionError('store', 'postgresBus() needs { store }: a postgresStore()');
    }
    this.#store = options.store;
    this.#closeStore = options.closeStore === true;
    this.#pageSize = positiveInteger('pageSize', options.pageSize, 1000);
    this.#checkIntervalMs =
      options.checkIntervalMs === false ? false : duration('checkIntervalMs', options.checkIntervalMs, 1000);
    this.#onError = options.onError ?? (() => {});
  }

  /** The backend pid of the LISTEN connection, while it is up (undefined otherwise). */
  get listenerPid(): number | undefined {
    return this.#listener?.pid;
  }

  start(sink: BusSink): void {
    this.#sink = sink;
    const config = (this.#store.pool as unknown as { options: object }).options;
    this.#listener = new Listener(config, [this.#store.wakeChannel, this.#store.outboxChannel], {
      wake: (channel, payload) => {
        this.stats.wakes++;
        if (channel === this.#store.outboxChannel) this.#sequencer.wake();
        else if (!this.#readPast(payload)) this.#reader.wake();
      },
      ready: () => {
        this.#outages.recovered();
        this.#reader.wake();
        this.#sequencer.wake();
      },
      down: (err) =>
        this.#report(
          new PostgresUnavailableError('LISTEN connection', { cause: err, endpoint: this.#store.endpoint }),
        ),
    });
    this.#listener.start();
    this.#reader.wake();
    if (this.#checkIntervalMs !== false) {
      this.#timer = setInterval(() => {
        this.#reader.wake();
        this.#sequencer.wake();
      }, this.#checkIntervalMs);
      this.#timer.unref();
    }
  }

  /**
   * Resolves after a read that includes `channel` and started after this call: every event after
   * the subscriber's own resume read (which comes later) will be delivered. Rejects with a
   * PostgresUnavailableError when that read fails; the channel stays wanted.
   */
  subscribe(channel: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#channels.add(channel);
    return this.#reader.next();
  }

  unsubscribe(channel: string): void {
    this.#channels.delete(channel);
  }

  /**
   * The batch was appended: resolve once this process has read past its last event on a
   * subscribed channel (delivered here, as with the in-process bus), or after `timeoutMs` (the
   * event is stored; the next read delivers it).
   */
  publish(batch: readonly EncodedEvent[], timeoutMs = 5000): Promise<void> {
    let last = 0;
    for (const ev of batch) if (this.#channels.has(ev.channel) && (ev.seq ?? 0) > last) last = ev.seq ?? 0;
    if (this.#closed || this.#deliverOwn(batch)) return Promise.resolve();
    if (last === 0 || (this.#position !== undefined && this.#position >= last)) return Promise.resolve();
    const echo = this.#echoes.wait(last, timeoutMs);
    this.#reader.wake();
    return echo;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#echoes.settle(Number.MAX_SAFE_INTEGER);
    this.#deferred.stop();
    this.#reader.stop();
    this.#sequencer.stop();
    await this.#listener?.close();
    await Promise.all([this.#reader.idle(), this.#sequencer.idle()]);
    if (this.#closeStore) await this.#store.close();
  }

  /** One catch-up: read pages after the position until the head, delivering in seq order. */
  async #read(): Promise<void> {
    if (this.#closed) return;
    try {
      for (;;) {
        const channels = [...this.#channels];
        const from = this.#position ?? 0;
        this.stats.reads++;
        const r = await this.#store.readChained(
          channels,
          from,
          this.#position === undefined ? 1 : this.#pageSize,
        );
        if (this.#closed) return;
        const at = { epoch: r.epoch, head: r.head };
        if (this.#position === undefined) {
          // First placement: "now".
          this.#epoch = r.epoch;
          this.#position = r.head;
          this.#echoes.settle(Number.MAX_SAFE_INTEGER);
          if (channels.length === 0) return;
          continue;
        }
        if (r.epoch !== this.#epoch) {
          // Another epoch (an empty database after a failover): every position of the old one
          // means nothing. Subscribers get a reset to the new epoch's start and then every event
          // of it: those published before this read noticed the change are not skipped.
          this.#reset(channels, 'unknown-id', { epoch: r.epoch, head: 0 });
          this.#epoch = r.epoch;
          this.#position = 0;
          this.#echoes.settle(Number.MAX_SAFE_INTEGER);
          continue;
        }
        const expired = new Set(r.gaps);
        if (expired.size > 0) this.#reset([...expired], 'expired', at);
        this.#deliver(r.records.filter((rec) => !expired.has(rec.channel)));
        const full = r.records.length >= this.#pageSize;
        this.#position = full ? r.records[r.records.length - 1]!.seq : Math.max(r.head, from);
        this.#echoes.settle(this.#position);
        this.#outages.recovered();
        if (!full) return;
      }
    } catch (err) {
      this.#report(err);
      throw err;
    }
  }

  async #sequence(): Promise<void> {
    if (this.#closed) return;
    try {
      const moved = await this.#store.sequence(this.#pageSize);
      if (moved > 0) this.stats.sequenced += moved;
    } catch (err) {
      this.#report(err);
      throw err;
    }
  }

  /** No read for a wake-up whose payload (`<epoch>:<head>`) says this process read that far in that
   * epoch, or has nothing to read (no channel, no read in flight), or may name its own append in
   * flight (deferred-wake.ts); any other payload reads. */
  #readPast(payload: string): boolean {
    const m = /^([0-9a-z]{1,16}):(\d{1,15})$/.exec(payload);
    if (m === null || this.#position === undefined || m[1] !== this.#epoch) return false;
    const head = Number(m[2]);
    if (head > this.#position) {
      if (this.#reader.running) return false;
      // Maybe this process' own append, its answer not back yet: read later if at all.
      if (this.#channels.size > 0) return this.#deferred.defer(head, this.#store.appendsSettled());
      this.#position = head;
    }
    this.stats.skipped++;
    return true;
  }

  /** This process' own batch, delivered without reading it back when it is exactly what a read
   * would return: its seqs follow the position (no other process' event between), in the epoch read
   * last, and no read is in flight (one from the old position would return them again). Otherwise
   * (another process appended in between, a read running) the echo comes from the next read. */
  #deliverOwn(batch: readonly EncodedEvent[]): boolean {
    if (this.#reader.running || this.#position === undefined || this.#epoch === undefined) return false;
    const first = this.#position + 1;
    for (let i = 0; i < batch.length; i++) {
      const ev = batch[i]!;
      if (ev.seq !== first + i || ev.id !== `${this.#epoch}-${ev.seq}`) return false;
    }
    const out = batch.filter((ev) => this.#channels.has(ev.channel));
    this.#position = first + batch.length - 1;
    this.stats.own += batch.length;
    if (out.length > 0) {
      this.stats.delivered += out.length;
      try {
        this.#sink?.deliver(out);
      } catch (err) {
        this.#report(err);
      }
    }
    this.#echoes.settle(this.#position);
    return true;
  }

  #deliver(records: readonly ChainedRecord[]): void {
    if (records.length === 0) return;
    const epoch = this.#epoch!;
    const out: EncodedEvent[] = [];
    for (const r of records) if (this.#channels.has(r.channel)) out.push(encodeStoredEvent({ ...r, epoch }));
    if (out.length === 0) return;
    this.stats.delivered += out.length;
    try {
      this.#sink?.deliver(out);
    } catch (err) {
      this.#report(err);
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
  }

  /** Every failure to `onError`; the first of an outage also to the sink (`'error'` of events()). */
  #report(err: unknown): void {
    if (!this.#closed) this.#outages.report(err);
  }
}

/** The cross-process EventBus over PostgreSQL (LISTEN/NOTIFY wake-ups, reads from the table). */
export function postgresBus(options: PostgresBusOptions): PostgresBus {
  return new PostgresBus(options);
}
