// What the node:http and node:http2 transports share: the response's 'close' as "peer gone",
// 'drain' waits, and which HTTP/1.1 sockets carry an event stream (for pipelining, see node.ts).
// The socket fast path (node-socket.ts) uses the helpers but not the class: once its response is
// released (node-release.ts) it holds the socket only.
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import type { SharedWrite, Transport } from '../core/transport.js';

let serverResponse: typeof ServerResponse | undefined;

/**
 * node:http's `ServerResponse`, loaded on first use rather than imported: importing the package
 * then loads no HTTP module, so the Fetch path (Bun.serve, Deno.serve, Next.js) never does.
 */
export function httpServerResponse(): typeof ServerResponse {
  serverResponse ??= process.getBuiltinModule('node:http').ServerResponse;
  return serverResponse;
}

/** Whether `res` is an HTTP/1.1 `node:http` response (else an HTTP/2 compat one). */
export function isHttp1(res: ServerResponse | Http2ServerResponse): res is ServerResponse {
  return res instanceof httpServerResponse();
}

/** Sockets whose current response is an open event stream (HTTP/1.1). */
const streamSockets = new WeakSet<Socket>();

/** Whether `socket`'s current response is an open event stream. */
export function carriesEventStream(socket: Socket): boolean {
  return streamSockets.has(socket);
}

/** Mark `socket` as carrying an open event stream (or no longer). */
export function markStreamSocket(socket: Socket, carries: boolean): void {
  if (carries) streamSockets.add(socket);
  else streamSockets.delete(socket);
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

export interface Emitter {
  once(event: string, listener: () => void): unknown;
  removeListener(event: string, listener: () => void): unknown;
}

/** Resolves on the first 'drain' of `drain` or 'close' of `close`, whichever comes first. */
export function drainedOrClosed(drain: Emitter, close: Emitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      drain.removeListener('drain', done);
      close.removeListener('close', done);
      resolve();
    };
    drain.once('drain', done);
    close.once('close', done);
  });
}

export abstract class NodeTransport<R extends ServerResponse | Http2ServerResponse> implements Transport {
  protected readonly res: R;
  #onClose: (() => void) | undefined;
  #socket: Socket | undefined;
  /** A compressor encodes this response: flush after each write so events are not held back. */
  protected readonly flushEachWrite: boolean;

  constructor(res: R, socket: Socket | undefined) {
    this.res = res;
    // compression() decides at writeHead time; with no-transform it passes bytes through and
    // sets no Content-Encoding, so there is nothing to flush.
    this.flushEachWrite =
      typeof (res as { flush?: unknown }).flush === 'function' &&
      res.getHeader('content-encoding') !== undefined;
    if (socket) {
      this.#socket = socket;
      markStreamSocket(socket, true);
    }
  }

  abstract write(out: SharedWrite): void;
  abstract bufferedBytes(): number;
  abstract needsDrain(): boolean;
  abstract reset(): void;
  /** What emits 'drain' for this transport's writes. */
  protected abstract drainEmitter(): Emitter;

  drained(): Promise<void> {
    return drainedOrClosed(this.drainEmitter(), this.res as unknown as Emitter);
  }

  end(): void {
    this.res.end();
  }

  onClose(listener: () => void): void {
    this.#onClose = listener;
    (this.res as unknown as Emitter).once('close', listener);
  }

  detach(): void {
    if (this.#socket) markStreamSocket(this.#socket, false);
    if (this.#onClose) (this.res as unknown as Emitter).removeListener('close', this.#onClose);
    this.#onClose = undefined;
  }
}
