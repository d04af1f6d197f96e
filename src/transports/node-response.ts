// The `res.write` fallback for node:http: used when something wrapped `res.write` (compression
// middleware) or the socket is not directly writable. Flushes after each write when a compressor
// encodes the response, so events are not held back in its buffer.
import type { ServerResponse } from 'node:http';
import type { SharedWrite } from '../core/transport.js';
import { NodeTransport, resetSocket } from './node-base.js';

export class ResponseTransport extends NodeTransport<ServerResponse> {
  constructor(res: ServerResponse) {
    super(res, res.socket ?? undefined);
  }

  write(out: SharedWrite): void {
    this.res.write(out.payload);
    if (this.flushEachWrite) (this.res as ServerResponse & { flush: () => void }).flush();
  }

  bufferedBytes(): number {
    return this.res.writableLength;
  }

  needsDrain(): boolean {
    return this.res.writableNeedDrain;
  }

  protected drainEmitter(): ServerResponse {
    return this.res;
  }

  reset(): void {
    const socket = this.res.socket;
    if (socket) resetSocket(socket);
    else this.res.destroy();
  }
}
