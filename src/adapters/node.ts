// The node:http / node:http2 (compat) responder: maps the request to a RequestView, awaits the
// decision, and writes the verdict or opens the stream over the transport that fits the response.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { EventMap } from '../base/types.js';
import { internalsOf } from '../compose/events.js';
import { decide, failure } from '../protocol/decision.js';
import type { RequestView } from '../protocol/request-view.js';
import { isGone, startStream, writeComplete } from '../transports/node.js';
import { type HandlerOptions, resolveEndpoint } from './endpoint.js';
import { streamExtras } from './stream-hooks.js';

/** Request objects the handler accepts: `node:http` (and so Express) or `node:http2` compat. */
export type HttpRequest = IncomingMessage | Http2ServerRequest;
/** Response objects the handler accepts. */
export type HttpResponse = ServerResponse | Http2ServerResponse;

/** A `(req, res)` listener for `http.createServer()` or `http2.createSecureServer({ allowHTTP1: true })`. */
export type EventStreamHandler<Req extends HttpRequest = HttpRequest> = (req: Req, res: HttpResponse) => void;

/** The view of a node request: headers as Node parsed them (repeats joined), the original URL. */
export function nodeRequestView(req: HttpRequest & { originalUrl?: string }): RequestView {
  const headers = req.headers;
  return {
    method: req.method ?? 'GET',
    url: req.originalUrl ?? req.url ?? '',
    // Read only when used: node:http caches the peer on the socket once it is read.
    get remoteAddress() {
      return req.socket?.remoteAddress;
    },
    header(name) {
      const value = headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/** A `(req, res)` handler serving `options.events` as an SSE endpoint. */
export function createHandler<M extends object = EventMap, Req extends HttpRequest = HttpRequest>(
  options: HandlerOptions<M, Req>,
): EventStreamHandler<Req> {
  const { events, endpoint, authorize } = resolveEndpoint(options);
  const core = internalsOf(events);
  const { channels } = options;

  async function handle(req: Req, res: HttpResponse): Promise<void> {
    const view = nodeRequestView(req);
    const verdict = await decide(view, endpoint, {
      channels: channels && ((identity) => channels(req, identity)),
      authorize: authorize && ((list) => authorize(req, list)),
    });
    if (isGone(res)) return;
    if (verdict.kind !== 'stream') {
      writeComplete(res, verdict.status, verdict.headers, verdict.body);
      return;
    }
    const extras = await streamExtras(options, req, verdict.channels, verdict.identity);
    if (isGone(res)) return;
    startStream(
      res,
      verdict.headers,
      () => core.closed,
      (transport) =>
        core.subscriptions.open(
          transport,
          verdict.channels,
          endpoint.preamble,
          verdict.lastEventId,
          { ...extras, identity: verdict.identity, tagged: verdict.tagged },
          () => view.remoteAddress,
        ),
    );
  }

  return function eventStreamHandler(req: Req, res: HttpResponse): void {
    handle(req, res).catch((err: unknown) => {
      const error = err instanceof Error ? err : new Error(String(err));
      core.report(error, {});
      if (res.headersSent) res.end();
      else {
        const answer = failure(error);
        if (answer.kind !== 'stream') writeComplete(res, answer.status, answer.headers, answer.body);
      }
    });
  };
}
