// The HTTP/1.1 socket fast path: for a plain `node:http` response whose `write` nobody wrapped
// (no compression middleware) and whose headers already reached the socket, writing one
// pre-framed chunk straight to the socket costs a fraction of `res.write()` and yields identical
// bytes. The chunk framing is computed once per Outgoing and shared by every connection.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Outgoing } from '../core/transport.js';
import { httpServerResponse, NodeTransport, resetSocket } from './node-base.js';

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

export class SocketTransport extends NodeTransport<ServerResponse> {
  readonly #socket: Socket;
  readonly #chunked: boolean;

  constructor(res: ServerResponse, socket: Socket) {
    super(res, socket);
    this.#socket = socket;
    this.#chunked = res.chunkedEncoding;
    socket.setNoDelay(true);
  }

  write(out: Outgoing): void {
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

  protected drainEmitter(): Socket {
    return this.#socket;
  }

  reset(): void {
    resetSocket(this.#socket);
  }
}
