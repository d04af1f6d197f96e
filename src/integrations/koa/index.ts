// express-eventstream/koa: the event-stream endpoint as Koa 3 middleware. Mount it after your
// own middleware (auth, logging, compression): it answers every request it gets from the raw
// req/res with `ctx.respond = false`, so Koa neither buffers nor re-sends the body, and it
// never calls `next()`. Only types come from koa (an optional peer dependency).

import { createHandler, type EventMap, type HandlerOptions } from 'express-eventstream';
import type { Context, Next } from 'koa';
import { frameworkOptions } from '../framework-options.js';

/** Koa middleware `(ctx, next)`; it answers every request it receives. */
export type KoaEventStreamMiddleware<C extends Context = Context> = (ctx: C, next: Next) => Promise<void>;

/** `options` as for `createHandler()`, with the Koa `Context` passed to `channels` and `authorize`. */
export function koaMiddleware<M extends object = EventMap, C extends Context = Context>(
  options: HandlerOptions<M, C>,
): KoaEventStreamMiddleware<C> {
  const { options: nodeOptions, bind } = frameworkOptions<M, C>(options);
  const handle = createHandler<M>(nodeOptions);
  return async function eventStreamMiddleware(ctx: C): Promise<void> {
    ctx.respond = false;
    bind(ctx.req, ctx);
    handle(ctx.req, ctx.res);
  };
}
