// One subscribed client. Kept small: it is the only per-connection state the library holds.
import { ServerResponse } from 'node:http';
import { constants as http2Constants } from 'node:http2';
import type { Socket } from 'node:net';
import type { EncodedEvent, HttpResponse } from './types.js';

/**
 * Bytes to send to a set of connections, framed at most once. `payload` is the SSE text;
 * `framed()` wraps it as one HTTP/1.1 chunk for connections that write straight to their socket.
 */
export class Outgoing {
  readonly payload: Buffer;
  /** How many events the payload holds (for delivery counts). */
  readonly events: number;
  #framed: Buffer | undefined;

  constructor(payload: Buffer, events: number) {
    this.payload = payload;
    this.events = events;
  }

  framed(): Buffer {
    if (this.#framed === undefined) {
      const head = `${this.payload.length.toString(16)}\r\n`;
      const out = Buffer.allocUnsafe(head.length + this.payload.length + 2);
      out.write(head, 0, 'latin1');
      this.payload.copy(out, head.length);
      out.write('\r\n', head.length + this.payload.length, 'latin1');
      this.#framed = out;
    }
    return this.#framed;
  }
}

export type DisconnectReason = 'client' | 'slow' | 'server';

export interface ConnectionOwner {
  /** Called exactly once when the connection is gone, whatever the cause. */
  released(conn: Connection, reason: DisconnectReason): void;
  /** Delivery accounting. */
  delivered(events: number, bytes: number): void;
}

/** Running on Bun (see fastSocket). */
const IS_BUN = typeof process.versions.bun === 'string';

/**
 * The socket fast path: for a plain `node:http` response whose `write` nobody wrapped (no
 * compression middleware) and whose headers already reached the socket, writing one pre-framed
 * chunk straight to the socket costs a fraction of `res.write()` and yields identical bytes.
 */
function fastSocket(res: HttpResponse): Socket | undefined {
  if (!(res instanceof ServerResponse)) return undefined; // HTTP/2 compat: always res.write
  // Bun's node:http response is backed by its native server: `res.socket` is a stand-in whose
  // writes never reach the connection (and the stream breaks), so Bun always uses res.write.
  if (IS_BUN) return undefined;
  if (res.write !== ServerResponse.prototype.write) return undefined; // wrapped, e.g. compression()
  const socket = res.socket;
  if (!socket?.writable || !res.headersSent) return undefined;
  return socket;
}

/** Sockets whose current response is an open event stream (HTTP/1.1). */
const streamSockets = new WeakSet<Socket>();

/** Whether `socket`'s current response is an open event stream. */
export function carriesEventStream(socket: Socket): boolean {
  return streamSockets.has(socket);
}

export class Connection {
  readonly channels: readonly string[];
  /** Identifies the channel set; connections with equal keys receive identical bytes. */
  readonly key: string;
  /** Last write time (ms), for keep-alive. */
  lastWriteAt = 0;
  /** Scratch mark used by the hub while coalescing a batch. */
  mark = 0;
  #res: HttpResponse;
  #socket: Socket | undefined;
  #chunked: boolean;
  #maxBufferBytes: number;
  #owner: ConnectionOwner;
  #open = true;
  /** A compressor encodes this response: flush after each write so events are not held back. */
  #flushEachWrite: boolean;
  /** While resuming: live events that arrived before the replay was written. */
  #held: EncodedEvent[] | undefined;
  #heldBytes = 0;
  /** While resuming: drops a client that has not taken its replay in time. */
  #deadline: NodeJS.Timeout | undefined;

  constructor(
    res: HttpResponse,
    channels: readonly string[],
    owner: ConnectionOwner,
    maxBufferBytes: number,
  ) {
    this.channels = channels;
    this.key = channels.length === 1 ? channels[0]! : [...channels].sort().join(',');
    this.#res = res;
    this.#owner = owner;
    this.#maxBufferBytes = maxBufferBytes;
    this.#socket = fastSocket(res);
    this.#chunked = res instanceof ServerResponse && res.chunkedEncoding;
    this.#socket?.setNoDelay(true);
    // compression() decides at writeHead time; with no-transform it passes bytes through and
    // sets no Content-Encoding, so there is nothing to flush.
    this.#flushEachWrite =
      typeof (res as { flush?: unknown }).flush === 'function' &&
      res.getHeader('content-encoding') !== undefined;
    res.once('close', this.#onClose);
    if (res instanceof ServerResponse && res.socket) streamSockets.add(res.socket);
  }

  get open(): boolean {
    return this.#open;
  }

  /** True until `release()`: live events are held back while the replay is read and written. */
  get holding(): boolean {
    return this.#held !== undefined;
  }

  /**
   * Hold live events back while the replay is read and written. A client that has not taken its
   * whole replay after `deadlineMs` is dropped as `slow`: it reconnects and resumes from the last
   * id it got, so progress is kept, while the server never waits on it for long.
   */
  hold(deadlineMs: number): void {
    this.#held = [];
    this.#deadline = setTimeout(() => this.#drop('slow'), deadlineMs);
    this.#deadline.unref();
  }

  /**
   * Keep a live event for after the replay. The bound applies to what was held before this one,
   * so one large event never counts against a client by itself.
   */
  holdEvent(ev: EncodedEvent): void {
    if (!this.#open || this.#held === undefined) return;
    if (this.#heldBytes > this.#maxBufferBytes) {
      this.#drop('slow');
      return;
    }
    this.#held.push(ev);
    this.#heldBytes += ev.bytes.length;
  }

  /**
   * Write the replay pieces as the client takes them, then the held live events not covered by
   * the replay (seq above `coveredUpTo`), and switch to live delivery. A piece is only written
   * once the backlog is under half the bound, so the pieces are pulled from the store at the
   * pace of the client: a client that stops reading pins one piece, never the whole replay.
   */
  async release(pieces: AsyncIterable<string>, coveredUpTo: number): Promise<void> {
    for await (const piece of pieces) {
      await this.#makeRoom();
      if (!this.#open) break; // leaving the loop closes the replay's store cursor
      this.#write(Buffer.from(piece), 0);
    }
    this.#clearDeadline();
    while (this.#open && this.#held !== undefined) {
      const held = this.#held;
      this.#held = undefined;
      const parts: Buffer[] = [];
      for (const ev of held) if (ev.seq === undefined || ev.seq > coveredUpTo) parts.push(ev.bytes);
      this.#heldBytes = 0;
      if (parts.length > 0) this.#write(Buffer.concat(parts), parts.length);
    }
  }

  /** Wait until the backlog is at most half the bound (or the connection is gone). */
  async #makeRoom(): Promise<void> {
    while (this.#open && this.bufferedBytes() > this.#maxBufferBytes / 2) {
      if (this.#writable().writableNeedDrain) await this.#drained();
      // Below the stream's own high-water mark no 'drain' comes (tiny bounds): look again soon.
      else await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  #writable(): { writableNeedDrain: boolean } {
    if (this.#socket !== undefined) return this.#socket;
    const res = this.#res;
    return res instanceof ServerResponse ? res : res.stream;
  }

  #clearDeadline(): void {
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  #drained(): Promise<void> {
    const emitter = this.#socket ?? this.#res;
    return new Promise((resolve) => {
      const done = () => {
        emitter.removeListener('drain', done);
        this.#res.removeListener('close', done);
        resolve();
      };
      emitter.once('drain', done);
      this.#res.once('close', done);
    });
  }

  #write(payload: Buffer, events: number): void {
    this.send(new Outgoing(payload, events), Date.now());
  }

  /** Whether events go straight to the socket (false: through `res.write`). */
  get usesSocketFastPath(): boolean {
    return this.#socket !== undefined;
  }

  send(out: Outgoing, now: number): void {
    if (!this.#open) return;
    // The bound is on the backlog: bytes of earlier writes the client has not taken yet. Checked
    // before adding this write, so a client that keeps up is never dropped for the size of one
    // write (a large event, a tick of many events); one that does not holds at most the bound
    // plus one write, and that write's buffer is shared with every other subscriber.
    if (this.bufferedBytes() > this.#maxBufferBytes) {
      this.#drop('slow');
      return;
    }
    if (this.#socket !== undefined) {
      this.#socket.write(this.#chunked ? out.framed() : out.payload);
    } else {
      const res = this.#res as ServerResponse;
      res.write(out.payload);
      if (this.#flushEachWrite) (res as ServerResponse & { flush: () => void }).flush();
    }
    this.lastWriteAt = now;
    this.#owner.delivered(out.events, out.payload.length);
  }

  /** Bytes waiting for this client: the outbound buffer plus live events held during a replay. */
  backlogBytes(): number {
    return this.bufferedBytes() + this.#heldBytes;
  }

  /** Bytes accepted but not yet handed to the kernel: the outbound buffer that the bound limits. */
  bufferedBytes(): number {
    if (this.#socket !== undefined) return this.#socket.writableLength;
    const res = this.#res;
    if (res instanceof ServerResponse) return res.writableLength;
    return res.stream.writableLength;
  }

  /** End the response cleanly (server shutdown). */
  end(): void {
    if (!this.#open) return;
    this.#release('server');
    this.#res.end();
  }

  /** Cut the connection off at once (the client reconnects). */
  abort(): void {
    this.#drop('server');
  }

  // A client that cannot keep up is cut off rather than allowed to hold unbounded memory or
  // slow the others; it reconnects and (with history) resumes from its last id.
  #drop(reason: DisconnectReason = 'slow'): void {
    this.#release(reason);
    const res = this.#res;
    if (res instanceof ServerResponse) {
      const socket = this.#socket ?? res.socket;
      if (socket) resetSocket(socket);
      else res.destroy();
    } else {
      // CANCEL resets the stream at once; a NO_ERROR close would wait for the buffered bytes to
      // flush to a client that is not reading, keeping the stream and its session alive.
      res.stream.close(http2Constants.NGHTTP2_CANCEL);
    }
  }

  #onClose = (): void => {
    this.#release('client');
  };

  #release(reason: DisconnectReason): void {
    if (!this.#open) return;
    this.#open = false;
    this.#clearDeadline();
    const res = this.#res;
    if (res instanceof ServerResponse && res.socket) streamSockets.delete(res.socket);
    this.#res.removeListener('close', this.#onClose);
    this.#owner.released(this, reason);
  }
}

/**
 * Cut a TCP connection with a reset. A plain close keeps the unsent bytes (up to the kernel's
 * send buffer, megabytes) queued for a peer that is not reading, for as long as it stays
 * connected; a reset frees them at once. TLS sockets cannot be reset from Node: closed instead.
 */
export function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
