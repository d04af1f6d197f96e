// express-eventstream/fastify: the event-stream endpoint as a Fastify 5 route handler. Fastify's
// own hooks (onRequest, preValidation, preHandler: auth, rate limits) run first, as for any
// route; then the reply is hijacked and the raw req/res go to the node handler. Only types
// come from fastify (an optional peer dependency), nothing is imported from it at run time.

import { createHandler, type EventMap, type HandlerOptions } from 'express-eventstream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { frameworkOptions } from '../framework-options.js';

/** A Fastify route handler: `app.get('/events', fastifyHandler({ events }))`. */
export type FastifyEventStreamHandler<R extends FastifyRequest = FastifyRequest> = (
  request: R,
  reply: FastifyReply,
) => void;

/** `options` as for `createHandler()`, with the `FastifyRequest` passed to `channels` and `authorize`. */
export function fastifyHandler<M extends object = EventMap, R extends FastifyRequest = FastifyRequest>(
  options: HandlerOptions<M, R>,
): FastifyEventStreamHandler<R> {
  const { options: nodeOptions, bind } = frameworkOptions<M, R>(options);
  const handle = createHandler<M>(nodeOptions);
  return function eventStreamRoute(request: R, reply: FastifyReply): void {
    // Fastify must not answer (nor run onSend hooks such as compression on) a response that
    // is written as it goes; it would also end it once this handler returns.
    reply.hijack();
    bind(request.raw, request);
    const res = reply.raw;
    // A hijacked reply gets Fastify's "request completed" line only when it finishes; a stream
    // normally ends with the client leaving, so say that ourselves.
    res.once('close', () => {
      if (!res.writableFinished) request.log.info({ responseTime: reply.elapsedTime }, 'event stream closed');
    });
    handle(request.raw, res);
  };
}
