// The control channel on PostgreSQL: NOTIFY on one channel per namespace
// (`<prefix><namespace>.control`), carrying the core's control message text (at most 7,000 bytes,
// under NOTIFY's 8,000). Unlike the bus, here the notification IS the message: control is at most
// once by contract, and what a process misses while its LISTEN connection is down is covered by a
// resync once it listens again (features re-read their shared state).
//
// Sends are serialized per process (one statement in flight; messages queued meanwhile go together
// in the next, in order), so every process receives one sender's messages in the order it sent
// them: NOTIFYs of one transaction arrive in order, transactions in commit order. Postgres drops a
// repeated identical payload within one transaction, so each message carries a counter (`n`).
import { debuglog } from 'node:util';
import { Events, InvalidOptionError } from 'express-eventstream';
import { type OutageReport, type PackageInternals, packageInternals } from '../../compose/internal-key.js';
import { PostgresUnavailableError } from './errors.js';
import { Listener } from './listener.js';
import type { PostgresStore } from './store.js';
import type { ControlChannel, ControlSink, JsonValue } from './types.js';

const internals: PackageInternals = packageInternals(Events);
const wire: PackageInternals['control'] = internals.control;
const log = debuglog('express-eventstream');

/** The options of `postgresControl()`. */
export interface PostgresControlOptions {
  /** The store whose pool (and its configuration, for the LISTEN connection) and namespace it shares. */
  store: PostgresStore;
  /** Every failure (sends, the LISTEN connection); the first of an outage also goes to `'error'`. */
  onError?: (error: Error) => void;
}

interface Queued {
  readonly text: string;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Control messages between the processes of a namespace over LISTEN/NOTIFY: every process
 * listening when a message is sent receives it once, each sender's messages in its order. Text on
 * the channel that is not the library's is dropped. After the LISTEN connection was down, the
 * namespace is told to resync. `send()` rejects with `PostgresUnavailableError` naming the endpoint
 * when the database does not take the message (no free pooled connection within
 * `acquireTimeoutMs`, a lost connection, a failed statement).
 */
export class PostgresControl implements ControlChannel {
  /** @internal Counters for tests and benchmarks. */
  readonly stats = { sent: 0, received: 0, dropped: 0, resyncs: 0 };
  readonly #store: PostgresStore;
  readonly #onError: (error: Error) => void;
  #listener: Listener | undefined;
  #sink: ControlSink | undefined;
  #queue: Queued[] = [];
  #sending = false;
  #counter = 0;
  /** LISTEN was in place before: the next `ready` follows an outage. */
  #listened = false;
  #closed = false;
  readonly #outages: OutageReport;

  constructor(options: PostgresControlOptions) {
    const store = (options as Partial<PostgresControlOptions> | null | undefined)?.store as
      | Partial<PostgresStore>
      | undefined;
    // Duck-typed: a second copy of this module makes another class.
    if (typeof store?.statement !== 'function' || typeof store.controlChannel !== 'string') {
      throw new InvalidOptionError('store', 'postgresControl() needs { store }: a postgresStore()');
    }
    internals.checks.assertOptionalFunction('onError', options.onError);
    this.#store = options.store;
    this.#onError = options.onError ?? (() => {});
    this.#outages = internals.outageReport(
      (error) => this.#onError(error),
      () => this.#sink,
    );
  }

  /** The backend pid of the LISTEN connection, while it is up. */
  get listenerPid(): number | undefined {
    return this.#listener?.pid;
  }

  /** Opens the LISTEN connection; resolves once it listens (or the channel closed). */
  start(sink: ControlSink): Promise<void> {
    this.#sink = sink;
    const config = (this.#store.pool as unknown as { options: object }).options;
    return new Promise((resolve) => {
      this.#listener = new Listener(config, [this.#store.controlChannel], {
        wake: (channel, payload) => this.#receive(channel, payload),
        ready: () => {
          this.#outages.recovered();
          resolve();
          if (!this.#listened) {
            this.#listened = true;
            return;
          }
          // Listening again: whatever was sent meanwhile is lost, so features re-read their state.
          this.stats.resyncs++;
          this.#sink?.resync?.();
        },
        down: (err) =>
          this.#report(
            new PostgresUnavailableError('control LISTEN connection', {
              cause: err,
              endpoint: this.#store.endpoint,
            }),
          ),
      });
      this.#listener.start();
      if (this.#closed) resolve();
    });
  }

  /** Sends `payload` on `topic` to every listening process, this one included. */
  send(topic: string, payload: JsonValue): Promise<void> {
    // Checked (and refused with InvalidOptionError) before anything is sent, as LocalControl does.
    const text = wire.encodeControlMessage(topic, payload);
    if (this.#closed) return Promise.resolve();
    const numbered = `{"n":${++this.#counter},${text.slice(1)}`;
    return new Promise((resolve, reject) => {
      this.#queue.push({ text: numbered, resolve, reject });
      if (!this.#sending) void this.#flush();
    });
  }

  /** Closes the LISTEN connection (the pool is the store's). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#listener?.close();
  }

  async #flush(): Promise<void> {
    this.#sending = true;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0);
      try {
        // One transaction: its notifications arrive in array order, after it commits.
        await this.#store.statement('control send', 'SELECT pg_notify($1, m) FROM unnest($2::text[]) AS m', [
          this.#store.controlChannel,
          batch.map((q) => q.text),
        ]);
        this.stats.sent += batch.length;
        for (const q of batch) q.resolve();
      } catch (err) {
        // The senders are told (each rejects); not an outage of the channel's listening.
        for (const q of batch) q.reject(err);
      }
    }
    this.#sending = false;
  }

  #receive(channel: string, text: string): void {
    if (channel !== this.#store.controlChannel || this.#closed) return;
    const message = wire.decodeControlMessage(text);
    if (message === undefined) {
      // Foreign or corrupt: never delivered. Its length only: the text itself is not ours to log.
      this.stats.dropped++;
      log('dropped a control message that is not ours (%d characters) on %s', text.length, channel);
      return;
    }
    this.stats.received++;
    try {
      this.#sink?.receive(message.topic, message.payload);
    } catch (err) {
      this.#report(err);
    }
  }

  #report(err: unknown): void {
    if (!this.#closed) this.#outages.report(err);
  }
}

/** The control channel of a namespace on PostgreSQL, over a store's pool and namespace. */
export function postgresControl(options: PostgresControlOptions): PostgresControl {
  return new PostgresControl(options);
}
