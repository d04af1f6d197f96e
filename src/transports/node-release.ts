// Handing an HTTP/1.1 connection over to its event stream once the head is out (socket fast path).
//
// node:http keeps every request and response reachable for as long as its connection lives:
// `socket._httpMessage` is the response, `res.req` the request, `socket.parser.incoming` the
// request again, and the per-connection closures its server binds (`socketOnData`, `socketOnEnd`,
// `socketOnClose`, `socketOnDrain`, `parser.onIncoming` and the parser's execute callback) share
// a state object whose `incoming` list holds the request until the response finishes. An event
// stream's response never finishes, so all of it (and, under Express, the framework's decorated
// request and response) lives as long as the stream: most of the heap per idle connection.
//
// Once the head reached the socket, an event stream needs only the socket. `releaseResponse()`
// takes node:http's per-request closures off the socket and the parser and leaves in their place
// module-level functions that do what the stream still needs of them: free the parser when the
// socket closes and refuse a request pipelined behind the stream; the socket ends its side when
// the client ends its own, as node's 'end' listener did. The parser stays registered with the
// server, so `server.closeAllConnections()`, `server.close()` (which leaves the stream open, as
// before) and the request/headers timeouts treat the connection as before; `socket._httpMessage`
// becomes a placeholder for a response in progress whose head was sent. The request and
// response then belong to whoever else holds them.
//
// It is done only when nothing can tell: the request and response have no listener but node's
// own, nobody subscribed to node's `http.server.response.finish` diagnostics channel, the
// request was received whole and is the last one parsed on the connection, nothing is queued in
// the response, and node's closures are found exactly where this node version puts them (by
// name). Otherwise nothing changes and node:http keeps the objects, as before.
import diagnosticsChannel from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { resetSocket } from './node-base.js';

/** The parts of node's HTTP parser (`socket.parser`, internal) this module touches. */
interface HttpParser {
  socket: Socket | null;
  incoming: IncomingMessage | null;
  onIncoming: ((this: HttpParser) => number) | null;
  _consumed: boolean;
  unconsume(): void;
  remove(): void;
  close(): void;
  [slot: number]: unknown;
}

/** A server socket as node:http leaves it (internal fields). */
interface HttpSocket extends Socket {
  parser?: HttpParser | null;
  _httpMessage?: unknown;
  _paused?: boolean;
  _handle?: unknown;
  server?: { httpAllowHalfOpen?: boolean } | null;
}

type Listen = (
  this: HttpSocket,
  event: string | symbol,
  listener: (...args: unknown[]) => void,
) => HttpSocket;
/** The listener methods node:http gives each of its sockets (per-socket closures). */
const LISTEN_METHODS = ['on', 'addListener', 'prependListener'] as const;
type ListenSlots = Record<(typeof LISTEN_METHODS)[number], Listen>;

/** node's per-connection listeners that hold the request (through their shared state) or the response. */
const NODE_LISTENERS = [
  ['data', 'bound socketOnData'],
  ['end', 'bound socketOnEnd'],
  ['close', 'bound socketOnClose'],
  ['drain', 'bound socketOnDrain'],
  ['close', 'onServerResponseClose'],
] as const;

const responseFinish = diagnosticsChannel.channel('http.server.response.finish');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/** Where this node version keeps the parser's execute callback (an index, the same for every parser). */
let executeSlot = -1;

function findExecuteSlot(parser: HttpParser): number {
  const isExecute = (slot: number) =>
    (parser[slot] as { name?: unknown } | undefined)?.name === 'bound onParserExecute';
  if (executeSlot >= 0) return isExecute(executeSlot) ? executeSlot : -1;
  for (let slot = 0; slot < 16; slot++) {
    if (isExecute(slot)) {
      executeSlot = slot;
      return slot;
    }
  }
  return -1;
}

/** The one listener of `event` with this name, or undefined (none, or more than one). */
function nodeListener(
  socket: Socket,
  event: string,
  name: string,
): ((...args: unknown[]) => void) | undefined {
  let found: ((...args: unknown[]) => void) | undefined;
  for (const listener of socket.listeners(event)) {
    if (listener.name !== name) continue;
    if (found) return undefined;
    found = listener as (...args: unknown[]) => void;
  }
  return found;
}

/** Whether only node listens to the request and the response (its own 'finish' bookkeeping). */
function onlyNodeListens(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.eventNames().length !== 0) return false;
  const events = res.eventNames();
  if (events.length !== 1 || events[0] !== 'finish') return false;
  const finish = res.listeners('finish');
  return finish.length === 1 && finish[0]!.name === 'bound resOnFinish';
}

/**
 * node:http's view of the socket's response once the stream owns the socket: in progress (so
 * `server.close()` leaves it open, as it leaves any response in progress) with its head sent (so
 * a late parse error never writes a `400` into the stream).
 */
class StreamInProgress {
  readonly finished = false;
  readonly _headerSent = true;
  /** node asks the response whether it handles a socket 'timeout': it does not (the server's rules apply). */
  emit(): boolean {
    return false;
  }
}

/**
 * After the head of an event stream went out through `res` on `socket`: let node:http and the
 * framework forget `res` and its request. Returns whether it did; if not, nothing was changed.
 */
export function releaseResponse(res: ServerResponse, socket: Socket): boolean {
  const s = socket as HttpSocket;
  const req = res.req;
  const parser = s.parser;
  if (!parser || parser.socket !== socket || parser.incoming !== req || parser._consumed !== true)
    return false;
  if (s._httpMessage !== res || s._paused !== false || socket.destroyed || !req.complete) return false;
  if (res.writableCorked !== 0 || (res as { outputSize?: unknown }).outputSize !== 0) return false;
  if (responseFinish.hasSubscribers || !onlyNodeListens(req, res)) return false;
  if (typeof parser.unconsume !== 'function' || typeof parser.remove !== 'function') return false;
  if (typeof parser.close !== 'function' || parser.onIncoming?.name !== 'bound parserOnIncoming')
    return false;
  const slot = findExecuteSlot(parser);
  if (slot < 0) return false;
  const listeners = NODE_LISTENERS.map(([event, name]) => nodeListener(socket, event, name));
  if (listeners.some((listener) => listener === undefined)) return false;

  NODE_LISTENERS.forEach(([event], i) => {
    socket.removeListener(event, listeners[i]!);
  });
  parser.incoming = null;
  parser.onIncoming = refusePipelined;
  parser[slot] = afterParse;
  s._httpMessage = new StreamInProgress();
  const slots = socket as unknown as ListenSlots;
  for (const method of LISTEN_METHODS) {
    if (Object.hasOwn(socket, method) && slots[method].name === 'socketListenerWrap')
      slots[method] = SHARED_LISTEN[method];
  }
  // The client ending its side ends ours (node's rule, unless `server.httpAllowHalfOpen`), as
  // node's 'end' listener did: the stream's own documented switch does it without a listener.
  if (s.server?.httpAllowHalfOpen !== true) socket.allowHalfOpen = false;
  socket.on('close', freeParser); // 'close' comes once: `on` costs no wrapper object, unlike `once`
  return true;
}

/** End a released stream: the last chunk (chunked responses), then close the connection. */
export function endReleased(socket: Socket, chunked: boolean): void {
  if (socket.destroyed) return;
  if (chunked && socket.writable) socket.write(LAST_CHUNK);
  // The connection cannot go back to node:http for another request: it closes once flushed.
  socket.destroySoon();
}

// What replaces node's closures. They are shared by every released connection and find the
// connection through `this`, so a released connection holds no closure of its own.

/** A request pipelined behind an event stream could never be answered: close the connection. */
function refusePipelined(this: HttpParser): number {
  const socket = this.socket;
  if (socket) process.nextTick(resetSocket, socket);
  return 0;
}

/** After each parse of incoming bytes: bytes that are not HTTP close the connection. */
function afterParse(this: HttpParser, ret: unknown): void {
  const socket = this.socket;
  if (ret instanceof Error && socket) resetSocket(socket);
}

/** The connection closed: take the parser off the server's connection list and free it, as node does. */
function freeParser(this: HttpSocket): void {
  const parser = this.parser;
  this.parser = null;
  if (!parser) return;
  if (parser._consumed) parser.unconsume();
  parser._consumed = false;
  parser.socket = null;
  parser.incoming = null;
  parser.onIncoming = null;
  parser[executeSlot] = null;
  parser.remove();
  // Not from inside the parser's own callbacks (as node does when its parser pool is full).
  setImmediate(closeParser, parser);
}

function closeParser(parser: HttpParser): void {
  parser.close();
}

// node:http wraps each socket's `on`, `addListener` and `prependListener` in closures of its own:
// whoever listens to 'data' or 'readable' takes the reading over from the parser. The same rule,
// in functions shared by every released socket.
function takeOverReads(socket: HttpSocket, event: string | symbol): void {
  const parser = socket.parser;
  if ((event !== 'data' && event !== 'readable') || !parser || !socket._handle) return;
  if (parser._consumed) parser.unconsume();
  parser._consumed = false;
  for (const event of ['pause', 'resume']) {
    for (const listener of socket.listeners(event)) {
      if (listener.name === 'onSocketPause' || listener.name === 'onSocketResume') {
        socket.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
}

function sharedListen(method: (typeof LISTEN_METHODS)[number]): Listen {
  return function listen(event, listener) {
    // the socket's class's own method (`net.Socket.prototype`'s), under node's per-socket one
    (Object.getPrototypeOf(this) as ListenSlots)[method].call(this, event, listener);
    takeOverReads(this, event);
    return this;
  };
}

const SHARED_LISTEN: ListenSlots = {
  on: sharedListen('on'),
  addListener: sharedListen('addListener'),
  prependListener: sharedListen('prependListener'),
};
