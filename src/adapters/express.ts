// Express adapter: the framework-free handler as middleware, mountable on any path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventMap } from '../base/types.js';
import type { HandlerOptions } from './endpoint.js';
import { createHandler } from './node.js';

/** The parts of an Express request the options' callbacks commonly use. */
export type ExpressRequest = IncomingMessage & {
  params?: Record<string, string>;
  query?: unknown;
  originalUrl?: string;
};

/** Express middleware `(req, res, next)`. It answers every request it receives and never calls `next`. */
export type EventStreamMiddleware<Req extends ExpressRequest = ExpressRequest> = (
  req: Req,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

/**
 * Middleware serving `options.events` as an SSE endpoint:
 * `app.get('/events/', express({ events }))`. Works with Express 4 and 5.
 */
export function express<M extends object = EventMap, Req extends ExpressRequest = ExpressRequest>(
  options: HandlerOptions<M, Req>,
): EventStreamMiddleware<Req> {
  const handle = createHandler<M, Req>(options);
  return function eventStreamMiddleware(req: Req, res: ServerResponse): void {
    handle(req, res);
  };
}

/**
 * `express()` under a name that does not clash with the `express` package:
 * `app.get('/events/', eventStream({ events }))`.
 */
export function eventStream<M extends object = EventMap, Req extends ExpressRequest = ExpressRequest>(
  options: HandlerOptions<M, Req>,
): EventStreamMiddleware<Req> {
  return express<M, Req>(options);
}
