// The response-stream endpoint as a node:http / Express `(req, res)` handler.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventMap } from '../base/types.js';
import { nodeRequestView } from './node.js';
import {
  answerStreamRequest,
  type ResolvedStreamOptions,
  resolveStreamOptions,
  type StreamHandlerOptions,
} from './stream-endpoint.js';

/**
 * A `(req, res)` handler for `GET …/streams/:id` (read or resume a response stream) and
 * `POST …/streams/:id/stop` (stop its generation), e.g. `app.all('/streams/*', streamHandler({ events }))`.
 */
export function streamHandler<M extends object = EventMap, Req extends IncomingMessage = IncomingMessage>(
  options: StreamHandlerOptions<M, Req>,
): (req: Req, res: ServerResponse) => void {
  const resolved = resolveStreamOptions(options);
  return function responseStreamHandler(req, res) {
    const left = new AbortController();
    res.on('close', () => left.abort());
    serve(resolved, req, res, left.signal).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('Service Unavailable: the stream could not be read');
      } else res.destroy();
      resolved.events.emit('error', err instanceof Error ? err : new Error(String(err)), {});
    });
  };
}

async function serve<M extends object, Req extends IncomingMessage>(
  options: ResolvedStreamOptions<M, Req>,
  req: Req,
  res: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  const answer = await answerStreamRequest(options, req, nodeRequestView(req), signal);
  if (res.destroyed || res.writableEnded) return;
  if (answer.kind === 'complete') {
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
    return;
  }
  res.writeHead(200, answer.headers);
  res.flushHeaders();
  for await (const piece of answer.pieces) {
    if (res.destroyed) break;
    if (!res.write(piece)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  if (!res.destroyed) res.end();
}
