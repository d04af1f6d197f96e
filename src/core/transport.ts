// The Transport seam: what a Connection writes through. The core knows nothing of HTTP; each
// transport (src/transports/) wraps one kind of response: the HTTP/1.1 socket fast path, the
// `res.write` fallback, an HTTP/2 stream, and a web ReadableStream (the Fetch path).

/**
 * Bytes to send to a set of connections, encoded once: the same object goes to every connection
 * of a batch that listens to the same channels. A transport that frames bytes (HTTP/1.1 chunks)
 * keeps its framing in `framed`, so that is done once per batch too, not once per connection.
 */
export class SharedWrite {
  readonly payload: Buffer;
  /** How many events the payload holds (for delivery counts). */
  readonly events: number;
  /** A transport's framing of `payload`, computed by the first connection that needs it. */
  framed: Buffer | undefined;

  constructor(payload: Buffer, events: number) {
    this.payload = payload;
    this.events = events;
  }
}

export interface Transport {
  /** Write bytes to the peer. Never throws; writes after the peer left are dropped. */
  write(out: SharedWrite): void;
  /** Bytes accepted but not yet taken by the peer: the backlog the connection's bound limits. */
  bufferedBytes(): number;
  /** Whether the transport asked writers to wait for `drained()` (its own high-water mark). */
  needsDrain(): boolean;
  /** Resolves when the transport drained, or when the peer is gone. */
  drained(): Promise<void>;
  /** End the stream cleanly (server shutdown). */
  end(): void;
  /**
   * Write `out` and end the stream, in one write where the transport can (the HTTP/1.1 socket:
   * the chunk and the last chunk together). Without it, `write(out)` then `end()`.
   */
  endWith?(out: SharedWrite): void;
  /** Cut the stream off at once, discarding what is buffered (a slow client, a failed resume). */
  reset(): void;
  /** `listener` is called once when the peer goes away (not after `detach()`). */
  onClose(listener: () => void): void;
  /** The connection is done with this transport: forget the close listener and any bookkeeping. */
  detach(): void;
}
