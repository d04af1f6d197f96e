// The producing side of one response stream: chunks appended to the stream's channel in order,
// one terminal `end` event, a heartbeat in the shared state while open (so readers on any process
// notice a dead producer), and the AbortSignal a stop request fires.
import { ResponseStreamError } from '../base/errors.js';
import type { SharedState } from '../engine/state.js';
import { chunkChannel, endKey, STATUS_SCOPE, snapshotChannel } from './names.js';
import { encodeStatus, endData, type StreamEnding } from './status.js';

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
}

interface Settings {
  retainMs: number;
  heartbeatMs: number;
  compactEvery: number | undefined;
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

  /** Aborted when a client asks to stop this generation (on any process); never on a disconnect. */
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

  /** The generation failed: readers get `end` with `{"status":"failed","message":…}`. */
  fail(error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    return this.#terminate('failed', message);
  }

  /** @internal A stop request reached this process: abort the signal and end the stream as stopped. */
  stop(): void {
    if (this.#ended !== undefined) return;
    this.#controller.abort(new ResponseStreamError(this.id, 'stopped', 'a client stopped this stream'));
    this.#terminate('stopped').catch((err: unknown) =>
      this.#host.report(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** @internal The namespace closed: stop the heartbeat (readers will declare the stream lost). */
  abandon(): void {
    clearInterval(this.#heartbeat);
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
    this.#ended = written
      .then(() => this.#host.state.put(STATUS_SCOPE, this.id, encodeStatus(ending), this.#settings.retainMs))
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

  #beat(): void {
    if (!this.#isReady || this.#ended !== undefined) return;
    this.#host.state
      .put(STATUS_SCOPE, this.id, encodeStatus('open'), this.#settings.heartbeatMs * 5)
      .catch((err: unknown) => this.#host.report(err instanceof Error ? err : new Error(String(err))));
  }

  #finish(): void {
    clearInterval(this.#heartbeat);
    this.#host.finished(this.id);
  }

  #endedError(): ResponseStreamError {
    return this.#controller.signal.aborted
      ? new ResponseStreamError(this.id, 'stopped', 'a client stopped this stream')
      : new ResponseStreamError(this.id, 'ended', 'the stream has ended');
  }
}
