// express-eventstream/koa: the event-stream endpoint as Koa 3 middleware. Mount it after your
// own middleware (auth, logging, compression): it answers every request it gets from the raw
// req/res with `ctx.respond = false`, so Koa neither buffers nor re-sends the body, and it
// never calls `next()`. Only types come from koa (an optional peer dependency).

import { createHandler, type EventMap, type HandlerOptions } from 'express-eventstream';
import type { Context, Next } from 'koa';
import { frameworkOptions } from './framework-options.js';

export type KoaMiddlewareOptions<M extends object = EventMap, C extends Context = Context> = Omit<
  HandlerOptions<M>,
  'channels' | 'authorize'
> & {
  /** Channels a request subscribes to. Default: the repeated `?channel=` query parameter. */
  channels?: (ctx: C) => readonly string[] | Promise<readonly string[]>;
  /** Return false to deny: `stream-error` with condition `forbidden` (403 for non-SSE clients). */
  authorize?: (ctx: C, channels: readonly string[]) => boolean | Promise<boolean>;
};

/** Koa middleware `(ctx, next)`; it answers every request it receives. */
export type KoaEventStreamMiddleware<C extends Context = Context> = (ctx: C, next: Next) => Promise<void>;

export function koaMiddleware<M extends object = EventMap, C extends Context = Context>(
  options: KoaMiddlewareOptions<M, C>,
): KoaEventStreamMiddleware<C> {
  const { options: nodeOptions, bind } = frameworkOptions<M, C>(options);
  const handle = createHandler<M>(nodeOptions);
  return async function eventStreamMiddleware(ctx: C): Promise<void> {
    ctx.respond = false;
    bind(ctx.req, ctx);
    handle(ctx.req, ctx.res);
  };
}
