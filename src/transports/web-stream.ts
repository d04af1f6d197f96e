// A Transport over a web ReadableStream: the body of a Fetch `Response` (Bun.serve, Deno.serve,
// Hono, Next.js route handlers, @hono/node-server). The runtime pulls chunks from the stream's
// queue as the peer takes them, so the queue is the backlog the connection bounds. The peer
// leaving is seen twice: the runtime cancels the stream, or the request's signal aborts; some
// runtimes only do one of the two, so whichever comes first counts, once.
import type { SharedWrite, Transport } from '../core/transport.js';

/** Queue size (bytes) above which writers are asked to wait: node's default for sockets. */
const HIGH_WATER_MARK = 16 * 1024;

const byteLength = (chunk: Uint8Array): number => chunk.byteLength;

const RESET_REASON =
  'express-eventstream: event stream reset (a client too slow for maxBufferBytes, or a resume that failed); the client reconnects';

export class WebStreamTransport implements Transport {
  /** The Response body. */
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  /** False once the stream ended, was reset, or the peer left. */
  #open = true;
  #onClose: (() => void) | undefined;
  /** `drained()` promises waiting for the runtime's next pull. */
  #waiting: Array<() => void> = [];
  #signal: AbortSignal | undefined;
  /** Closes the connection under the response, where the runtime lets us (see `reset()`). */
  #closeConnection: (() => void) | undefined;

  /**
   * `signal`: the request's, which aborts when the peer leaves. `closeConnection`: called after a
   * reset, to close the connection the errored body alone would leave open.
   */
  constructor(signal?: AbortSignal, closeConnection?: () => void) {
    this.#closeConnection = closeConnection;
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        // Called when the queue fell below the high-water mark: writers may go on.
        pull: () => this.#wake(),
        cancel: () => this.#gone(),
      },
      { highWaterMark: HIGH_WATER_MARK, size: byteLength },
    );
    if (signal !== undefined && !signal.aborted) {
      this.#signal = signal;
      signal.addEventListener('abort', this.#aborted);
    }
  }

  write(out: SharedWrite): void {
    if (!this.#open) return;
    try {
      this.#controller.enqueue(out.payload);
    } catch {
      // The runtime closed the stream without cancelling it: the peer is gone.
      this.#gone();
    }
  }

  bufferedBytes(): number {
    if (!this.#open) return 0;
    const desired = this.#controller.desiredSize;
    return desired === null ? 0 : HIGH_WATER_MARK - desired;
  }

  needsDrain(): boolean {
    return this.#open && (this.#controller.desiredSize ?? 1) <= 0;
  }

  drained(): Promise<void> {
    if (!this.needsDrain()) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  end(): void {
    if (!this.#open) return;
    this.#finish();
    // What is queued is still delivered; then the response ends.
    this.#close();
  }

  reset(): void {
    if (!this.#open) return;
    const close = this.#closeConnection;
    this.#finish();
    this.#error();
    // The runtime notices the error only at its next read, after the socket drained: never, for
    // a client that stopped reading. Closing the connection is what frees it.
    close?.();
  }

  onClose(listener: () => void): void {
    this.#onClose = listener;
  }

  detach(): void {
    this.#onClose = undefined;
    this.#unlisten();
  }

  /** The request's signal aborted: the peer left (or the runtime gave up on the request). */
  readonly #aborted = (): void => {
    if (!this.#open) return;
    this.#gone();
    // End the body too, so a runtime that never cancels is not left waiting on a read. Closed,
    // not errored: runtimes log a body's error, and this is an ordinary hang-up.
    this.#close();
  };

  #gone(): void {
    if (!this.#open) return;
    const listener = this.#onClose;
    this.#finish();
    listener?.();
  }

  /** Stop writing, wake waiters, forget listeners. */
  #finish(): void {
    this.#open = false;
    this.#onClose = undefined;
    this.#closeConnection = undefined;
    this.#unlisten();
    this.#wake();
  }

  #unlisten(): void {
    this.#signal?.removeEventListener('abort', this.#aborted);
    this.#signal = undefined;
  }

  #wake(): void {
    if (this.#waiting.length === 0) return;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
  }

  #close(): void {
    try {
      this.#controller.close();
    } catch {
      // already closed or errored
    }
  }

  /**
   * Erroring the body is the only way a Fetch handler can cut a response off: the runtime resets
   * the connection (and logs this error once, so it says what happened).
   */
  #error(): void {
    try {
      this.#controller.error(new Error(RESET_REASON));
    } catch {
      // already errored or closed
    }
  }
}
