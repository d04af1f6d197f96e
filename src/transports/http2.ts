// HTTP/2 (compat API): writes go through `res.write`; a reset is an RST_STREAM with CANCEL.
import { type Http2ServerResponse, constants as http2Constants } from 'node:http2';
import type { Outgoing } from '../core/transport.js';
import { NodeTransport } from './node-base.js';

export class Http2Transport extends NodeTransport<Http2ServerResponse> {
  constructor(res: Http2ServerResponse) {
    super(res, undefined);
  }

  write(out: Outgoing): void {
    this.res.write(out.payload);
    if (this.flushEachWrite) (this.res as Http2ServerResponse & { flush: () => void }).flush();
  }

  bufferedBytes(): number {
    return this.res.stream.writableLength;
  }

  needsDrain(): boolean {
    return this.res.stream.writableNeedDrain;
  }

  protected drainEmitter(): Http2ServerResponse {
    return this.res;
  }

  // CANCEL resets the stream at once; a NO_ERROR close would wait for the buffered bytes to
  // flush to a client that is not reading, keeping the stream and its session alive.
  reset(): void {
    this.res.stream.close(http2Constants.NGHTTP2_CANCEL);
  }
}
