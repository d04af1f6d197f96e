// The HTTP/1.1 socket fast path: for a plain `node:http` response whose `write` nobody wrapped
// (no compression middleware) and whose headers already reached the socket, writing one
// pre-framed chunk straight to the socket costs a fraction of `res.write()` and yields identical
// bytes. The chunk framing is computed once per SharedWrite and shared by every connection.
// Once the head is out the response is released when nothing else listens to it
// (node-release.ts): the transport then holds the socket only, and the request and response
// objects can be collected for the life of the stream.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { SharedWrite, Transport } from '../core/transport.js';
import {
  drainedOrClosed,
  type Emitter,
  httpServerResponse,
  markStreamSocket,
  resetSocket,
} from './node-base.js';
import { endReleased, releaseResponse } from './node-release.js';

/** Running on Bun (see fastSocket). */
const IS_BUN = typeof process.versions.bun === 'string';

/** The response's socket when the fast path is safe for it. */
export function fastSocket(res: ServerResponse): Socket | undefined {
  // Bun's node:http response is backed by its native server: `res.socket` is a stand-in whose
  // writes never reach the connection (and the stream breaks), so Bun always uses res.write.
  if (IS_BUN) return undefined;
  if (res.write !== httpServerResponse().prototype.write) return undefined; // wrapped, e.g. compression()
  const socket = res.socket;
  if (!socket?.writable || !res.headersSent) return undefined;
  return socket;
}

/** One HTTP/1.1 chunk: hex length, CRLF, payload, CRLF. */
function frame(payload: Buffer): Buffer {
  const head = `${payload.length.toString(16)}\r\n`;
  const out = Buffer.allocUnsafe(head.length + payload.length + 2);
  out.write(head, 0, 'latin1');
  payload.copy(out, head.length);
  out.write('\r\n', head.length + payload.length, 'latin1');
  return out;
}

export class SocketTransport implements Transport {
  readonly #socket: Socket;
  readonly #chunked: boolean;
  /** The response while node:http keeps it (not released): it ends the stream and tells its close. */
  readonly #res: ServerResponse | undefined;
  #onClose: (() => void) | undefined;

  constructor(res: ServerResponse, socket: Socket) {
    this.#socket = socket;
    this.#chunked = res.chunkedEncoding;
    socket.setNoDelay(true);
    markStreamSocket(socket, true);
    this.#res = releaseResponse(res, socket) ? undefined : res;
  }

  /** What emits 'close' when the peer is gone: the response, or the socket once released. */
  #closer(): Emitter {
    return this.#res ?? this.#socket;
  }

  write(out: SharedWrite): void {
    if (!this.#chunked) {
      this.#socket.write(out.payload);
      return;
    }
    out.framed ??= frame(out.payload);
    this.#socket.write(out.framed);
  }

  bufferedBytes(): number {
    return this.#socket.writableLength;
  }

  needsDrain(): boolean {
    return this.#socket.writableNeedDrain;
  }

  drained(): Promise<void> {
    return drainedOrClosed(this.#socket, this.#closer());
  }

  end(): void {
    if (this.#res) this.#res.end();
    else endReleased(this.#socket, this.#chunked);
  }

  // Corked, the last event and the last chunk leave in one writev (a revocation ends many streams).
  endWith(out: SharedWrite): void {
    this.#socket.cork();
    this.write(out);
    this.end();
    this.#socket.uncork();
  }

  reset(): void {
    resetSocket(this.#socket);
  }

  onClose(listener: () => void): void {
    this.#onClose = listener;
    // A socket emits 'close' once: `on` spares the wrapper object `once` costs per connection.
    if (this.#res) this.#res.once('close', listener);
    else this.#socket.on('close', listener);
  }

  detach(): void {
    markStreamSocket(this.#socket, false);
    if (this.#onClose) this.#closer().removeListener('close', this.#onClose);
    this.#onClose = undefined;
  }
}
