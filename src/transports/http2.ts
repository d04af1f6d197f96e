// HTTP/2 (compat API): writes go through `res.write`; a reset is an RST_STREAM with CANCEL.
import type { Http2ServerResponse } from 'node:http2';
import type { SharedWrite } from '../core/transport.js';
import { NodeTransport } from './node-base.js';

/** The HTTP/2 error code CANCEL (RFC 9113, section 7); a constant, so node:http2 is not loaded. */
const NGHTTP2_CANCEL = 0x8;

export class Http2Transport extends NodeTransport<Http2ServerResponse> {
  constructor(res: Http2ServerResponse) {
    super(res, undefined);
  }

  write(out: SharedWrite): void {
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
    this.res.stream.close(NGHTTP2_CANCEL);
  }
}
