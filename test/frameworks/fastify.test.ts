// The Fastify 5 adapter on real Fastify with @fastify/compress (global, threshold 0) and hooks.
import type { AddressInfo } from 'node:net';
import compress from '@fastify/compress';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { type Events, events, InvalidOptionError } from '../../src/index.js';
import { fastifyHandler } from '../../src/integrations/fastify/index.js';
import { BIG_TEXT, frameworkSuite } from '../helpers/framework-suite.js';
import { connect, until } from '../helpers/sse-client.js';

declare module 'fastify' {
  interface FastifyRequest {
    user?: string;
  }
}

async function startFastify(ev: Events, logs?: string[], handlerTimeout?: number) {
  const app = Fastify({
    ...(logs && { logger: { level: 'info', stream: { write: (line: string) => void logs.push(line) } } }),
    ...(handlerTimeout !== undefined && { handlerTimeout }),
  });
  await app.register(compress, { global: true, threshold: 0 });
  app.addHook('onRequest', async (request, reply) => {
    if ((request.query as Record<string, string>).blocked === '1') return reply.code(401).send('no');
    const user = request.headers['x-user'];
    if (typeof user === 'string') request.user = user;
  });
  const authorize = (request: { user?: string }, channels: readonly string[]) =>
    !channels.includes('private') || request.user === 'admin';
  app.get('/events', fastifyHandler({ events: ev, authorize }));
  app.get<{ Params: { room: string } }>(
    '/rooms/:room/events',
    fastifyHandler({
      events: ev,
      channels: (request) => [`room-${(request.params as { room: string }).room}`],
    }),
  );
  app.post('/messages', async (request, reply) => {
    await ev.channel('messages').publish({ event: 'message', data: { text: String(request.body) } });
    return reply.code(201).send();
  });
  app.get('/big', async () => BIG_TEXT);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    server: app.server,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

frameworkSuite('Fastify 5', (ev) => startFastify(ev));

describe('fastifyHandler', () => {
  it('validates its options like createHandler', () => {
    expect(() => fastifyHandler({ events: {} as never })).toThrow(InvalidOptionError);
    expect(() => fastifyHandler({ events: events(), channels: 'a' as never })).toThrow(
      /channels must be a function/,
    );
    expect(() => fastifyHandler(null as never)).toThrow(InvalidOptionError);
  });

  it("logs through Fastify's logger: the incoming request, and the stream closing", async () => {
    const ev = events();
    const logs: string[] = [];
    const app = await startFastify(ev, logs);
    try {
      const c = await connect(`${app.base}/events?channel=a`, { accept: 'text/event-stream' });
      await c.waitFor((x) => x.events.length === 1);
      expect(logs.some((l) => l.includes('incoming request') && l.includes('/events?channel=a'))).toBe(true);
      c.close();
      await until(() => logs.some((l) => l.includes('event stream closed')), 2000, 'the close log line');
      expect(ev.stats().connections).toBe(0);
    } finally {
      await ev.close();
      await app.close();
    }
  });

  it("outlives Fastify's handlerTimeout: the hijacked reply is the stream's own", async () => {
    // keep-alives every 400 ms, handler timeout 150 ms: a reply Fastify still owned would be
    // destroyed before the first keep-alive.
    const ev = events({ keepAlive: 400 });
    const app = await startFastify(ev, undefined, 150);
    try {
      const c = await connect(`${app.base}/events?channel=a`, { accept: 'text/event-stream' });
      await c.waitFor((x) => x.named('keep-alive').length === 2, 5000, 'two keep-alives');
      expect(c.ended).toBe(false);
      await ev.publish('a', { event: 'n', data: 1 });
      await c.waitFor((x) => x.named('n').length === 1);
      c.close();
    } finally {
      await ev.close();
      await app.close();
    }
  });
});
