import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createHandler,
  type EventMap,
  type Events,
  type EventsOptions,
  events,
  type HandlerOptions,
  type HttpRequest,
} from '../../src/index.js';
import { connect, type SseClient } from './sse-client.js';

export interface TestServer {
  server: http.Server;
  port: number;
  url: (path: string) => string;
  close: () => Promise<void>;
}

/** Start an HTTP server on a free 127.0.0.1 port. `close()` also drops open streams. */
export async function startServer(listener: http.RequestListener): Promise<TestServer> {
  const server = http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An Events namespace served by `createHandler()` on a free port, with the clients it opened. */
export interface EventsFixture {
  ev: Events;
  server: TestServer;
  /** Connect a client to `path` (headers: default `accept: text/event-stream`); closed by `close()`. */
  open(path: string, headers?: Record<string, string>): Promise<SseClient>;
  /** Close the clients, the namespace and the server. */
  close(): Promise<void>;
}

/** The one server fixture: `events(options)` behind `createHandler({ events, ...handler })`. */
export async function serveEvents(
  options: EventsOptions = {},
  handler: Partial<HandlerOptions<EventMap, HttpRequest>> = {},
): Promise<EventsFixture> {
  const ev = events(options);
  const server = await startServer(createHandler({ events: ev, ...handler }));
  const clients: SseClient[] = [];
  return {
    ev,
    server,
    async open(path, headers = { accept: 'text/event-stream' }) {
      const client = await connect(server.url(path), headers);
      clients.push(client);
      return client;
    },
    async close() {
      for (const c of clients.splice(0)) c.close();
      await ev.close();
      await server.close();
    },
  };
}

/**
 * For tests that register cleanups: serve `events({ keepAlive: false, ...options })` and push
 * its teardown onto `cleanups`.
 */
export async function serveWithCleanup(
  cleanups: Array<() => Promise<void> | void>,
  options: EventsOptions,
): Promise<{ ev: Events; server: TestServer }> {
  const fx = await serveEvents({ keepAlive: false, ...options });
  cleanups.push(() => fx.close());
  return { ev: fx.ev, server: fx.server };
}

/** A client on `channel` that has received `stream-open`, closed by `cleanups`. */
export async function openedClient(
  cleanups: Array<() => Promise<void> | void>,
  server: TestServer,
  channel: string,
): Promise<SseClient> {
  const c = await connect(server.url(`/?channel=${channel}`));
  cleanups.push(() => c.close());
  await c.waitFor((x) => x.named('stream-open').length === 1, 5000, 'stream-open');
  return c;
}
