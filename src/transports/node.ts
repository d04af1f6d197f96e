// Writing verdicts to node:http / node:http2 (compat) responses, and choosing the transport a
// stream runs over. The only place that tells HTTP/1.1 from HTTP/2 responses.
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { Transport } from '../core/transport.js';
import { Http2Transport } from './http2.js';
import { carriesEventStream, isHttp1, resetSocket } from './node-base.js';
import { ResponseTransport } from './node-response.js';
import { fastSocket, SocketTransport } from './node-socket.js';

/** Response objects the handler accepts. */
export type NodeResponse = ServerResponse | Http2ServerResponse;

/** Whether the client already went away. */
export function isGone(res: NodeResponse): boolean {
  if (isHttp1(res)) return res.destroyed || res.socket?.destroyed === true;
  return res.stream.destroyed;
}

/** Write a complete response and end it. */
export function writeComplete(
  res: NodeResponse,
  status: number,
  headers: Readonly<Record<string, string>>,
  body: Uint8Array,
): void {
  res.writeHead(status, headers);
  if (body.length > 0) res.end(body);
  else res.end();
}

/** The transport for a response whose head was sent: socket fast path, `res.write`, or HTTP/2. */
function transportFor(res: NodeResponse): Transport {
  if (!isHttp1(res)) return new Http2Transport(res);
  const socket = fastSocket(res);
  return socket === undefined ? new ResponseTransport(res) : new SocketTransport(res, socket);
}

/**
 * Send the head of an event stream and hand its transport to `open`; `closed()` tells whether the
 * namespace closed meanwhile (then the response just ends, never a subscriber).
 */
export function startStream(
  res: NodeResponse,
  headers: Readonly<Record<string, string>>,
  closed: () => boolean,
  open: (transport: Transport) => void,
): void {
  if (isHttp1(res) && res.socket === null && !res.destroyed && !res.writableEnded) {
    // HTTP/1.1 pipelining: this response is queued behind another one on its connection. It has
    // no socket and is never told when the connection closes, so it must not be subscribed.
    const socket = res.req.socket;
    if (carriesEventStream(socket)) {
      // Behind an event stream, which never ends by itself, it could never be answered; and
      // its queued output would make Node stop reading the connection, hiding the client's
      // hang-up. Pipelining on an event stream is refused by closing the connection.
      resetSocket(socket);
      return;
    }
    // Behind an ordinary response: it gets its turn in order, as HTTP/1.1 requires. Nothing is
    // written meanwhile; if the client hangs up first, it simply never subscribes.
    res.once('socket', () => process.nextTick(() => startStream(res, headers, closed, open)));
    return;
  }
  if (res.destroyed || res.writableEnded) return; // the client left while it waited
  res.writeHead(200, headers);
  // HTTP/2 compat sends its headers with the first write, which follows immediately.
  if (isHttp1(res)) res.flushHeaders();
  if (closed()) {
    // Never a subscriber: end it without a Connection, so no 'disconnect' without 'connect'.
    res.end();
    return;
  }
  open(transportFor(res));
}
