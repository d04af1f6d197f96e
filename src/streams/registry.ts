// The response streams of one namespace: the producers running in this process (by id), stop
// requests (sent to every process on the control channel and remembered in the shared state for
// a process that missed the message), and reading any stream, wherever it is produced.

import { ResponseStreamError } from '../base/errors.js';
import { assertKnownKeys, assertObject, durationOption, integerOption } from '../base/option-checks.js';
import { MAX_STREAM_CHUNKS } from '../base/stream-limits.js';
import type { Subscriptions } from '../core/subscription.js';
import type { RunningEngine } from '../engine/running.js';
import type { EventStore } from '../engine/store.js';
import {
  assertStreamId,
  chunkChannel,
  endKey,
  isStreamId,
  STATUS_SCOPE,
  STOP_SCOPE,
  STOP_TOPIC,
} from './names.js';
import { type ProducerHost, ResponseStream, type ResponseStreamOptions } from './producer.js';
import { type ReadStreamOptions, readStream, type StreamReading, storedEnding } from './reader.js';
import { decodeStatus, encodeStatus, endData } from './status.js';

/** What `requestStop()` found: sent to the producer, or nothing to stop. */
export type StopOutcome = 'stopping' | 'unknown' | 'ended';

/** How long a stop request is remembered for a process that missed the control message. */
const STOP_REMEMBERED_MS = 60_000;
/** How long a stream whose producer died stays readable (its own `retainMs` died with it). */
const LOST_RETAIN_MS = 600_000;

/** What response streams need of their namespace. */
interface StreamsHost {
  readonly store: EventStore | undefined;
  readonly engine: RunningEngine;
  readonly subscriptions: Subscriptions;
  publish: ProducerHost['publish'];
  report(error: Error): void;
}

/** The publish pipeline as response streams use it. */
interface Publisher {
  publish(channel: string, event: unknown, options?: { idempotencyKey: string }): { done: Promise<void> };
}

export class ResponseStreams {
  readonly #host: StreamsHost;
  readonly #producing = new Map<string, ResponseStream>();
  readonly #producerHost: ProducerHost;

  constructor(
    store: EventStore | undefined,
    engine: RunningEngine,
    subscriptions: Subscriptions,
    pipeline: Publisher,
  ) {
    const host: StreamsHost = {
      store,
      engine,
      subscriptions,
      publish: (channel, event, options) => pipeline.publish(channel, event, options).done,
      report: (error) => engine.control.report(error),
    };
    this.#host = host;
    const { control, state } = host.engine;
    this.#producerHost = {
      publish: host.publish,
      state,
      report: host.report,
      finished: (id) => this.#producing.delete(id),
      storedEnding: async (id) => (store === undefined ? undefined : storedEnding(store, id)),
    };
    control.on(STOP_TOPIC, (payload) => {
      const id = (payload as { id?: unknown } | null)?.id;
      if (isStreamId(id)) this.#producing.get(id)?.stop();
    });
    // Messages may have been missed: every stream produced here asks whether it was stopped.
    control.onResync(() => {
      for (const [id, stream] of this.#producing) {
        state.get(STOP_SCOPE, id).then(
          (stop) => stop !== undefined && stream.stop(),
          (err: unknown) => host.report(err instanceof Error ? err : new Error(String(err))),
        );
      }
    });
  }

  open(id: string, options: ResponseStreamOptions = {}): ResponseStream {
    assertStreamId(id);
    if (this.#host.store === undefined) {
      throw new ResponseStreamError(id, 'no-history', 'response streams need the history (history: false)');
    }
    if (this.#producing.has(id)) {
      throw new ResponseStreamError(
        id,
        'exists',
        'a stream with this id exists in this process (ids are one per generation)',
      );
    }
    const stream = new ResponseStream(id, this.#producerHost, settingsOf(options));
    this.#producing.set(id, stream);
    return stream;
  }

  read(id: string, options?: ReadStreamOptions): Promise<StreamReading> {
    assertStreamId(id);
    const { store, engine, subscriptions } = this.#host;
    if (store === undefined) {
      return Promise.reject(new ResponseStreamError(id, 'no-history', 'response streams need the history'));
    }
    return readStream(
      { store, state: engine.state, subscriptions, markLost: (lost) => this.#markLost(lost) },
      id,
      options,
    );
  }

  /** Ask the producing process, wherever it runs, to stop the stream (its `signal` aborts). */
  async requestStop(id: string): Promise<StopOutcome> {
    assertStreamId(id);
    const { state, control } = this.#host.engine;
    const status = decodeStatus(await state.get(STATUS_SCOPE, id));
    if (status === undefined) return 'unknown';
    if (status !== 'open') return 'ended';
    await state.put(STOP_SCOPE, id, '1', STOP_REMEMBERED_MS);
    await control.send(STOP_TOPIC, { id });
    return 'stopping';
  }

  /** The namespace closes: producers here stop their heartbeats (readers elsewhere see them lost). */
  close(): void {
    for (const stream of this.#producing.values()) stream.abandon();
    this.#producing.clear();
  }

  // Whoever notices first writes the ending (once: the end's idempotency key), then the status
  // mirrors the ending actually stored (the producer's own, if it got there first).
  async #markLost(id: string): Promise<void> {
    const { store, engine } = this.#host;
    await this.#host.publish(
      chunkChannel(id),
      { event: 'end', data: endData('lost', 'the producing process stopped (its heartbeat expired)') },
      { idempotencyKey: endKey(id) },
    );
    const ending = store === undefined ? undefined : await storedEnding(store, id);
    if (ending !== undefined) await engine.state.put(STATUS_SCOPE, id, encodeStatus(ending), LOST_RETAIN_MS);
  }
}

function settingsOf(options: ResponseStreamOptions): {
  retainMs: number;
  heartbeatMs: number;
  compactEvery: number | undefined;
  maxChunks: number;
} {
  assertObject(options, 'options', 'stream options');
  assertKnownKeys(options, ['retainMs', 'heartbeatMs', 'compact', 'maxChunks']);
  const retainMs = durationOption('retainMs', options.retainMs, 600_000, { min: 1, max: 86_400_000 });
  const heartbeatMs = durationOption('heartbeatMs', options.heartbeatMs, 1000, { min: 10, max: 3_600_000 });
  const { compact } = options;
  let compactEvery: number | undefined;
  if (compact === true) compactEvery = 500;
  else if (compact !== undefined && compact !== false) {
    assertObject(compact, 'compact', 'compact');
    assertKnownKeys(compact, ['every'], 'compact.');
    compactEvery = integerOption('compact.every', compact.every, { min: 1, max: 1_000_000 }, 500);
  }
  const maxChunks = integerOption(
    'maxChunks',
    options.maxChunks,
    { min: 1, max: MAX_STREAM_CHUNKS },
    100_000,
  );
  return { retainMs, heartbeatMs, compactEvery, maxChunks };
}
