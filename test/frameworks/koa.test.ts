// The Koa 3 adapter on real Koa with koa-compress (threshold 0) and upstream middleware.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import compress from 'koa-compress';
import { describe, expect, it } from 'vitest';
import { type Events, events, InvalidOptionError } from '../../src/index.js';
import { koaMiddleware } from '../../src/integrations/koa/index.js';
import { BIG_TEXT, frameworkSuite } from '../helpers/framework-suite.js';

type State = { user?: string };

async function startKoa(ev: Events) {
  const app = new Koa<State>();
  app.use(compress({ threshold: 0 }));
  // Upstream middleware: runs before the endpoint, may answer, and sets the user.
  app.use(async (ctx, next) => {
    if (ctx.query.blocked === '1') {
      ctx.status = 401;
      ctx.body = 'no';
      return;
    }
    const user = ctx.get('x-user');
    if (user !== '') ctx.state.user = user;
    await next();
  });
  const stream = koaMiddleware({
    events: ev,
    authorize: (ctx, channels) => !channels.includes('private') || ctx.state.user === 'admin',
  });
  app.use(async (ctx, next) => {
    const room = /^\/rooms\/([^/]+)\/events$/.exec(ctx.path);
    if (ctx.path === '/events') return stream(ctx, next);
    if (room) return koaMiddleware({ events: ev, channels: () => [`room-${room[1]}`] })(ctx, next);
    if (ctx.path === '/messages' && ctx.method === 'POST') {
      let text = '';
      for await (const chunk of ctx.req) text += chunk;
      await ev.channel('messages').publish({ event: 'message', data: { text } });
      ctx.status = 201;
      return;
    }
    if (ctx.path === '/big') {
      ctx.body = BIG_TEXT;
      return;
    }
    await next();
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

frameworkSuite('Koa 3', startKoa);

describe('koaMiddleware', () => {
  it('validates its options like createHandler', () => {
    expect(() => koaMiddleware({ events: {} as never })).toThrow(InvalidOptionError);
    expect(() => koaMiddleware({ events: events(), authorize: 1 as never })).toThrow(
      /authorize must be a function/,
    );
  });
});
