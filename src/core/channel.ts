import { Writable } from 'node:stream';
import type { EventInput, EventMap } from '../base/types.js';
import type { TrackedPublish } from './pipeline.js';
import type { PublishOptions } from './publish-options.js';

/** The events a `Channel` emits besides a Writable's own. */
export interface ChannelEvents {
  /** A written event was rejected (invalid, or a proxy refused it). The channel stays usable. */
  publishError: [error: Error, event: unknown];
}

/** Events of one channel object that may wait for proxies before writes slow down. */
const MAX_IN_FLIGHT = 1000;

/**
 * An object-mode Writable bound to one channel: `readable.pipe(events.channel('clock'))`.
 *
 * Backpressure: a write completes once its event has reached local subscribers (with history on,
 * after the store assigned its id) or was rejected; when more than
 * 1,000 of this object's events still wait for a proxy (GRIP), further writes wait too, so a slow
 * proxy throttles a fast producer without ever delaying local delivery. A rejected event is
 * reported with `publishError` and never errors the stream: one bad event or a proxy outage
 * cannot break the pipe for later events.
 */
/** What a Channel publishes through (the namespace's pipeline); keeps Channel free of Events. */
export interface ChannelPublisher {
  publish(channel: string, event: unknown, options?: PublishOptions): TrackedPublish;
  /** A `publishError` listener threw: reported like any listener failure of the namespace. */
  listenerFailed(name: string, err: unknown): void;
}

/**
 * One channel as an object-mode Writable, from `events.channel(name)`: `write()` publishes an event
 * (checked against the event map like `publish()`), and backpressure holds writes while proxies lag.
 */
export class Channel<M extends object = EventMap> extends Writable {
  readonly name: string;
  readonly #publisher: ChannelPublisher;
  #inFlight = 0;
  #waiting: (() => void) | undefined;

  // Private: a Channel comes from `events.channel(name)` only. A stripped public constructor
  // would leave the .d.ts with Writable's, so `new Channel({ objectMode: true })` would compile.
  private constructor(publisher: ChannelPublisher, name: string) {
    super({ objectMode: true, highWaterMark: 64 });
    this.#publisher = publisher;
    this.name = name;
  }

  /** @internal What `events.channel(name)` calls. */
  static open<M extends object>(publisher: ChannelPublisher, name: string): Channel<M> {
    return new Channel<M>(publisher, name);
  }

  /** Publish one event on this channel; same as `events.publish(channel.name, event, options)`. */
  publish(event: EventInput<M>, options?: PublishOptions): Promise<void> {
    return this.#publisher.publish(this.name, event, options).done;
  }

  // Writable's write() takes any chunk; a channel's is an event of the map, checked as publish()'s.
  /**
   * Publish `event` on this channel (checked against the event map, like `publish()`); returns
   * false when the caller should wait for `'drain'`. A failed publish is emitted as `publishError`.
   */
  override write(event: EventInput<M>, callback?: (error: Error | null | undefined) => void): boolean;
  /** As `write(event, callback)`; `encoding` is ignored (events are objects). */
  override write(
    event: EventInput<M>,
    encoding: BufferEncoding,
    callback?: (error: Error | null | undefined) => void,
  ): boolean;
  /**
   * @deprecated Text and bytes are not events (a write of one is rejected with `publishError`).
   * Typed only so that a Channel is a Node stream to `readable.pipe(channel)` and `pipeline()`.
   */
  override write(chunk: string | Uint8Array, callback?: (error: Error | null | undefined) => void): boolean;
  /** @deprecated See the `string | Uint8Array` overload. */
  override write(
    chunk: string,
    encoding?: BufferEncoding,
    callback?: (error: Error | null | undefined) => void,
  ): boolean;
  override write(
    event: EventInput<M> | string | Uint8Array,
    encodingOrCallback?: BufferEncoding | ((error: Error | null | undefined) => void),
    callback?: (error: Error | null | undefined) => void,
  ): boolean {
    return typeof encodingOrCallback === 'function'
      ? super.write(event, encodingOrCallback)
      : super.write(event, encodingOrCallback as BufferEncoding, callback);
  }

  override _write(
    event: EventInput<M>,
    _encoding: BufferEncoding,
    done: (error?: Error | null) => void,
  ): void {
    this.#afterLocalDelivery(this.#send(event), done);
  }

  override _writev(
    chunks: Array<{ chunk: EventInput<M>; encoding: BufferEncoding }>,
    done: (error?: Error | null) => void,
  ): void {
    let delivered: Promise<void> = Promise.resolve();
    for (const { chunk } of chunks) delivered = this.#send(chunk);
    // Batches are delivered in publish order: the last event's delivery covers the others.
    this.#afterLocalDelivery(delivered, done);
  }

  /** Publish one event; returns when it reached local subscribers (or failed). */
  #send(event: EventInput<M>): Promise<void> {
    this.#inFlight++;
    const { done, delivered } = this.#publisher.publish(this.name, event);
    done.then(
      () => this.#settled(),
      (err: Error) => {
        this.#settled();
        // A throwing publishError listener must not break later writes, nor crash the process.
        try {
          this.emit('publishError', err, event);
        } catch (thrown) {
          this.#publisher.listenerFailed('publishError', thrown);
        }
      },
    );
    return delivered;
  }

  #afterLocalDelivery(delivered: Promise<void>, done: () => void): void {
    delivered.then(() => {
      if (this.#inFlight <= MAX_IN_FLIGHT) done();
      else this.#waiting = done;
    });
  }

  #settled(): void {
    this.#inFlight--;
    const waiting = this.#waiting;
    if (waiting !== undefined && this.#inFlight <= MAX_IN_FLIGHT) {
      this.#waiting = undefined;
      waiting();
    }
  }
}
