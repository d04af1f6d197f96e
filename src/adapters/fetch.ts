// The web-standard Fetch responder: a `Request` in, a `Response` out, for every server written
// against the Fetch API (Bun.serve, Deno.serve, Hono, Next.js route handlers, @hono/node-server).
// Maps the Request to a RequestView, awaits the decision, and answers the verdict, or opens the
// stream over a ReadableStream transport. Imports nothing Node-only.

import type { EventMap } from '../base/types.js';
import { internalsOf } from '../compose/events.js';
import type { StreamExtras } from '../core/stream-extras.js';
import { decide, failure, type Verdict } from '../protocol/decision.js';
import type { RequestView } from '../protocol/request-view.js';
import { WebStreamTransport } from '../transports/web-stream.js';
import { type HandlerOptions, resolveEndpoint } from './endpoint.js';
import { streamExtras } from './stream-hooks.js';

/**
 * `(request, server?) => Promise<Response>`: a route handler for any Fetch-API server. `server` is
 * what the server passes beside the request; Bun.serve's `Server` is used to close the connection
 * of a client dropped as slow (pass it on when you wrap the handler: `(req, server) =>
 * handler(req, server)`, in Hono on Bun `handler(c.req.raw, c.env)`). Anything else (Deno's
 * `info`, a Next.js route context) is ignored.
 */
export type FetchEventStreamHandler<R extends Request = Request> = (
  request: R,
  server?: unknown,
) => Promise<Response>;

/** Path and query of an absolute URL (`http://host/events?channel=a` → `/events?channel=a`). */
function pathOf(url: string): string {
  const authority = url.indexOf('//');
  const path = url.indexOf('/', authority === -1 ? 0 : authority + 2);
  return path === -1 ? '/' : url.slice(path);
}

/** The view of a Fetch request: `Headers.get()` already joins repeated headers with `, `. */
export function fetchRequestView(request: Request): RequestView {
  const headers = request.headers;
  return {
    method: request.method.toUpperCase(),
    url: pathOf(request.url),
    header: (name) => headers.get(name) ?? undefined,
  };
}

/** A complete verdict as a Response. Null-body statuses (204) must not get a body at all. */
function respond(verdict: Exclude<Verdict, { kind: 'stream' }>): Response {
  const body = verdict.body.length === 0 ? null : (verdict.body as Uint8Array<ArrayBuffer>);
  return new Response(body, { status: verdict.status, headers: verdict.headers });
}

/**
 * How to close the connection under a reset stream (a client dropped as slow, a failed resume).
 * Erroring the body is not enough: runtimes read the body again only once the socket drains,
 * which a stalled client never lets happen, so the connection and megabytes of unsent bytes
 * would stay. Bun.serve's `server.timeout(request, 1)` closes it within a few seconds (its idle
 * timer); Deno.serve and the others offer no handle to a request's connection.
 */
function connectionCloser(request: Request, server: unknown): (() => void) | undefined {
  if (typeof server !== 'object' || server === null) return undefined;
  const timeout: unknown = (server as { timeout?: unknown }).timeout;
  if (typeof timeout !== 'function') return undefined;
  return () => {
    try {
      Reflect.apply(timeout, server, [request, 1]);
    } catch {
      // The request is already finished: nothing left to close.
    }
  };
}

/**
 * The event-stream endpoint as a Fetch handler: `Bun.serve({ fetch: handler })`,
 * `Deno.serve(handler)`, `app.get('/events', (c) => handler(c.req.raw, c.env))` in Hono, or
 * `export const GET = handler` in a Next.js route. Options as for `createHandler()`, with the
 * `Request` passed to `channels` and `authorize`. On Bun, give it the server (Bun.serve passes it
 * as the second argument): a client dropped as slow then has its connection closed.
 */
export function fetchHandler<M extends object = EventMap, R extends Request = Request>(
  options: HandlerOptions<M, R>,
): FetchEventStreamHandler<R> {
  const { events, endpoint, authorize } = resolveEndpoint(options);
  const core = internalsOf(events);
  const { channels } = options;

  return async function eventStreamHandler(request: R, server?: unknown): Promise<Response> {
    let verdict: Verdict;
    try {
      verdict = await decide(fetchRequestView(request), endpoint, {
        channels: channels && ((identity) => channels(request, identity)),
        authorize: authorize && ((list) => authorize(request, list)),
      });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      core.report(error, {});
      verdict = failure(error);
    }
    let extras: StreamExtras | undefined;
    if (verdict.kind === 'stream') {
      try {
        extras = await streamExtras(options, request, verdict.channels, verdict.identity);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        core.report(error, {});
        verdict = failure(error);
      }
    }
    if (verdict.kind !== 'stream') return respond(verdict);
    // The client left while the decision ran, or the namespace closed: never a subscriber (so no
    // 'disconnect' without 'connect'); the response just ends.
    if (request.signal.aborted || core.closed) {
      return new Response(null, { status: verdict.status, headers: verdict.headers });
    }
    const transport = new WebStreamTransport(request.signal, connectionCloser(request, server));
    core.subscriptions.open(transport, verdict.channels, endpoint.preamble, verdict.lastEventId, {
      ...extras,
      identity: verdict.identity,
      tagged: verdict.tagged,
    });
    return new Response(transport.stream, { status: verdict.status, headers: verdict.headers });
  };
}
