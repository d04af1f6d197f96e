// The producing side of one response stream: chunks appended to the stream's channel in order,
// one terminal `end` event, a heartbeat in the shared state while open (so readers on any process
// notice a dead producer), and the AbortSignal a stop request, `fail()` or the namespace closing fires.
import { ResponseStreamError } from '../base/errors.js';
import type { SharedState } from '../engine/state.js';
import { chunkChannel, endKey, STATUS_SCOPE, snapshotChannel } from './names.js';
import { encodeStatus, endData, type StreamEnding } from './status.js';

/** Why a stopped stream's signal aborted (the AI adapter renders the same text on a resume). */
const STOPPED = 'a client stopped this stream';
const LOST = 'its heartbeat lapsed (this process stalled) and a reader declared it lost, storing its end';

/** Options of `events.stream(id, options)`. */
export interface ResponseStreamOptions {
  /** How long (ms) a finished stream stays readable; then readers get 404. Default 600,000 (10 min). */
  retainMs?: number;
  /** How often (ms) the producer refreshes its heartbeat; readers declare it lost after 5 missed. Default 1,000. */
  heartbeatMs?: number;
  /**
   * Opt-in compaction: a fresh reader gets one `snapshot` event (the text so far) and the tail
   * instead of every chunk. A snapshot is written every `every` chunks (default 500) and at the end.
   */
  compact?: boolean | { every?: number };
  /**
   * The most chunks this stream takes (1 to 1,000,000; default 100,000). The history keeps every
   * one of them for as long as the stream is retained (`maxEventsPerChannel` does not apply to
   * streams); `append()` beyond it rejects with `ResponseStreamError` (`problem: 'too-long'`).
   */
  maxChunks?: number;
}

/** What a producer needs from its namespace. */
export interface ProducerHost {
  publish(
    channel: string,
    event: { event?: string; data: unknown; raw?: boolean },
    options?: { idempotencyKey: string },
  ): Promise<void>;
  readonly state: SharedState;
  report(error: Error): void;
  /** The stream ended (any way): forget it locally. */
  finished(id: string): void;
  /** The ending stored in the history (the first `end` published wins: its idempotency key). */
  storedEnding(id: string): Promise<StreamEnding | undefined>;
}

interface Settings {
  retainMs: number;
  heartbeatMs: number;
  compactEvery: number | undefined;
  maxChunks: number;
}

/** One generation's output: `append()` chunks, then `end()` or `fail()`; `signal` fires on a stop request. */
export class ResponseStream {
  readonly id: string;
  readonly #host: ProducerHost;
  readonly #settings: Settings;
  readonly #controller = new AbortController();
  readonly #ready: Promise<void>;
  readonly #heartbeat: ReturnType<typeof setInterval>;
  #isReady = false;
  #ended: Promise<void> | undefined;
  #text = '';
  #sinceSnapshot = 0;
  #chunks = 0;

  /** @internal Created by `events.stream(id)`. */
  constructor(id: string, host: ProducerHost, settings: Settings) {
    this.id = id;
    this.#host = host;
    this.#settings = settings;
    this.#ready = this.#claim();
    this.#ready.then(
      () => {
        this.#isReady = true;
      },
      () => this.#finish(),
    );
    this.#heartbeat = setInterval(() => this.#beat(), settings.heartbeatMs);
    this.#heartbeat.unref?.();
  }

  /**
   * Aborted when the generation should stop: a client asked to (on any process), `fail()` was
   * called, the namespace closed, or this process stalled past its heartbeat lease and a reader
   * declared the stream lost; never on a disconnect, nor on `end()`. The reason is a
   * `ResponseStreamError` named `AbortError` (what fetch and the AI SDK take for a cancellation)
   * whose `problem` says why: `stopped`, `failed`, `closed` or `lost`.
   */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether `end()`, `fail()` or a stop ended the stream. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /**
   * Append a text chunk. Resolves once it is stored; chunks keep the order of the calls. Rejects
   * with `ResponseStreamError` after the end or a stop (check `signal` to stop generating).
   */
  append(chunk: string): Promise<void> {
    if (typeof chunk !== 'string') {
      return Promise.reject(
        new TypeError(`stream ${this.id}: a chunk must be a string, got ${typeof chunk}`),
      );
    }
    if (this.#ended !== undefined) return Promise.reject(this.#endedError());
    if (chunk === '') return this.#ready;
    if (this.#chunks >= this.#settings.maxChunks) {
      return Promise.reject(
        new ResponseStreamError(
          this.id,
          'too-long',
          `the stream has its maxChunks (${this.#settings.maxChunks}) chunks; end it, or open it with a higher maxChunks`,
        ),
      );
    }
    this.#chunks++;
    const { compactEvery } = this.#settings;
    if (compactEvery !== undefined) {
      this.#text += chunk;
      this.#sinceSnapshot++;
    }
    const done = this.#after(() => this.#host.publish(chunkChannel(this.id), { data: chunk, raw: true }));
    if (compactEvery !== undefined && this.#sinceSnapshot >= compactEvery) this.#snapshot();
    return done;
  }

  /** The generation finished: readers get the terminal `end` event (`{"status":"done"}`). */
  end(): Promise<void> {
    return this.#terminate('done');
  }

  /** The generation failed: readers get `end` with `{"status":"failed","message":…}`; `signal` aborts. */
  fail(error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    if (this.#ended === undefined) this.#abort('failed', `the generation failed: ${message.slice(0, 200)}`);
    return this.#terminate('failed', message);
  }

  /** @internal A stop request reached this process: abort the signal and end the stream as stopped. */
  stop(): void {
    if (this.#ended !== undefined) return;
    this.#abort('stopped', STOPPED);
    this.#terminate('stopped').catch((err: unknown) =>
      this.#host.report(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** @internal The namespace closed: stop the heartbeat (readers will declare the stream lost). */
  abandon(): void {
    clearInterval(this.#heartbeat);
    if (this.#ended === undefined) this.#abort('closed', 'its namespace closed (events.close())');
  }

  #abort(why: 'stopped' | 'failed' | 'closed' | 'lost', message: string): void {
    const reason = new ResponseStreamError(this.id, why, message);
    reason.name = 'AbortError';
    this.#controller.abort(reason);
  }

  #terminate(ending: StreamEnding, message?: string): Promise<void> {
    if (this.#ended !== undefined) return this.#ended;
    if (this.#settings.compactEvery !== undefined && this.#sinceSnapshot > 0) this.#snapshot();
    const written = this.#after(() =>
      this.#host.publish(
        chunkChannel(this.id),
        { event: 'end', data: endData(ending, message) },
        { idempotencyKey: endKey(this.id) },
      ),
    );
    // The status mirrors the ending actually stored, as a reader declaring the stream lost does: a
    // reader's `lost` stored first (this process stalled past its lease) wins over this end.
    this.#ended = written
      .then(async () => {
        const stored = (await this.#host.storedEnding(this.id)) ?? ending;
        await this.#host.state.put(STATUS_SCOPE, this.id, encodeStatus(stored), this.#settings.retainMs);
        if (stored === 'lost' && ending !== 'lost') {
          this.#abort('lost', LOST);
          throw new ResponseStreamError(this.id, 'lost', LOST);
        }
      })
      .finally(() => this.#finish());
    return this.#ended;
  }

  #snapshot(): void {
    const text = this.#text;
    this.#sinceSnapshot = 0;
    this.#after(() =>
      this.#host.publish(snapshotChannel(this.id), { event: 'snapshot', data: text, raw: true }),
    ).catch((err: unknown) => this.#host.report(err instanceof Error ? err : new Error(String(err))));
  }

  // Publishes are issued in call order: the pipeline keeps that order in the history.
  #after(publish: () => Promise<void>): Promise<void> {
    return this.#isReady ? publish() : this.#ready.then(publish);
  }

  async #claim(): Promise<void> {
    // One atomic step: of two processes opening the same id at once, exactly one gets it.
    const claimed = await this.#host.state.compareAndSet(
      STATUS_SCOPE,
      this.id,
      undefined,
      encodeStatus('open'),
      this.#settings.heartbeatMs * 5,
    );
    if (!claimed) {
      throw new ResponseStreamError(
        this.id,
        'exists',
        'a stream with this id exists (ids are one per generation)',
      );
    }
  }

  // A beat refreshes the lease in one atomic step, and only from the producer's own `open`: a beat
  // that finds the status gone or changed comes too late (this process stalled past the lease, a
  // reader declared the stream lost and stored its end), and a read-then-write could put `open`
  // back over that `lost`. The generation stops here instead (the signal aborts, appends reject)
  // of appending after an end no reader reads past.
  #beat(): void {
    if (!this.#isReady || this.#ended !== undefined) return;
    const open = encodeStatus('open');
    this.#host.state
      .compareAndSet(STATUS_SCOPE, this.id, open, open, this.#settings.heartbeatMs * 5)
      .then((renewed) => {
        if (renewed || this.#ended !== undefined) return;
        this.#abort('lost', LOST);
        // end() and fail() now reject too: the stored ending is the reader's `lost`.
        const ended = Promise.reject(this.#endedError());
        ended.catch(() => {});
        this.#ended = ended;
        this.#finish();
      })
      .catch((err: unknown) => this.#host.report(err instanceof Error ? err : new Error(String(err))));
  }

  #finish(): void {
    clearInterval(this.#heartbeat);
    this.#host.finished(this.id);
  }

  #endedError(): ResponseStreamError {
    const reason: unknown = this.#controller.signal.reason;
    if (reason instanceof ResponseStreamError && reason.problem === 'lost') {
      return new ResponseStreamError(this.id, 'lost', LOST);
    }
    return reason instanceof ResponseStreamError && reason.problem === 'stopped'
      ? new ResponseStreamError(this.id, 'stopped', STOPPED)
      : new ResponseStreamError(this.id, 'ended', 'the stream has ended');
  }
}
