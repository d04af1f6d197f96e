// Once the head of an event stream is out on the HTTP/1.1 socket fast path, node:http and the
// framework let go of the request and response (src/transports/node-release.ts): they are
// collected while the stream lives on, and everything node:http did for the connection still
// happens: hang-ups, closeAllConnections(), server.close(), timeouts, maxConnections, pipelining.
// Real servers and sockets on 127.0.0.1; every wait is on a condition.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import express4 from 'express4';
import express5 from 'express5';
import { afterEach, describe, expect, it } from 'vitest';
import {
  events as createEvents,
  createHandler,
  type DisconnectInfo,
  type Events,
  express,
} from '../src/index.js';
import { connect, type SseClient, until } from './helpers/sse-client.js';

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function obtainGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** Whether every object behind `refs` was collected within 50 rounds of (next turn, full GC). */
async function collected(refs: Array<WeakRef<object>>): Promise<boolean> {
  const gc = obtainGc();
  for (let round = 0; round < 50; round++) {
    await new Promise((r) => setImmediate(r));
    gc();
    if (refs.every((ref) => ref.deref() === undefined)) return true;
  }
  return false;
}

interface Served {
  ev: Events;
  server: http.Server;
  port: number;
  /** Weak references to every request and response the server saw. */
  refs: Array<WeakRef<object>>;
  disconnects: DisconnectInfo[];
  url: (path: string) => string;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** `listener(ev)` on a fresh server; every request and response is weakly recorded first. */
async function serve(
  listener: (ev: Events) => Listener,
  serverOptions: http.ServerOptions = {},
): Promise<Served> {
  const ev = createEvents({ keepAlive: false });
  const inner = listener(ev);
  const refs: Array<WeakRef<object>> = [];
  const server = http.createServer(serverOptions, (req, res) => {
    refs.push(new WeakRef(req), new WeakRef(res));
    inner(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const disconnects: DisconnectInfo[] = [];
  ev.on('disconnect', (d) => disconnects.push(d));
  cleanups.push(async () => {
    await ev.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { ev, server, port, refs, disconnects, url: (path) => `http://127.0.0.1:${port}${path}` };
}

async function openClient(url: string): Promise<SseClient> {
  const c = await connect(url);
  cleanups.push(() => c.close());
  await c.waitFor((x) => x.named('stream-open').length === 1, 5000, 'stream-open');
  return c;
}

/** A raw TCP client that sends `text` and collects what it receives. */
function rawClient(port: number, text: string, allowHalfOpen = false) {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen });
  const state = { text: '', ended: false, closed: false };
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    state.text += chunk;
  });
  socket.on('end', () => {
    state.ended = true;
  });
  socket.on('close', () => {
    state.closed = true;
  });
  socket.on('error', () => {});
  socket.write(text);
  cleanups.push(() => {
    socket.destroy();
  });
  return { socket, state };
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`;

function serverConnections(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}

/** Resolve once the server holds `n` connections (net's own count); reject after 5 s. */
async function untilConnections(server: http.Server, n: number): Promise<void> {
  const start = Date.now();
  while ((await serverConnections(server)) !== n) {
    if (Date.now() - start > 5000)
      throw new Error(`the server still holds ${await serverConnections(server)} connections`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('the request and response are released after the head', () => {
  it('node:http: both are collected while the stream lives on, and a hang-up is still seen', async () => {
    const s = await serve((ev) => createHandler({ events: ev }));
    const c = await openClient(s.url('/?channel=a'));
    expect(await collected(s.refs), 'request and response collected').toBe(true);
    await s.ev.publish('a', { event: 'n', data: 'after' });
    await c.waitFor((x) => x.named('n').length === 1, 5000, 'an event after the release');
    expect(c.named('n')[0]!.data).toBe('"after"');
    c.close();
    await until(() => s.disconnects.length === 1, 5000, 'the disconnect');
    expect(s.disconnects).toEqual([{ channels: ['a'], reason: 'client' }]);
    expect(s.ev.stats().connections).toBe(0);
    await untilConnections(s.server, 0);
  });

  it.each([
    ['Express 4', express4],
    ['Express 5', express5],
  ] as const)('%s: the decorated request and response are collected too', async (_name, createApp) => {
    const s = await serve((ev) => {
      const app = createApp();
      app.get('/events', express({ events: ev }));
      return app as unknown as Listener;
    });
    const c = await openClient(s.url('/events?channel=x'));
    expect(await collected(s.refs), 'request and response collected').toBe(true);
    await s.ev.publish('x', { event: 'n', data: 1 });
    await c.waitFor((x) => x.named('n').length === 1, 5000, 'an event after the release');
    c.close();
    await until(() => s.disconnects.length === 1, 5000, 'the disconnect');
    expect(s.disconnects[0]!.reason).toBe('client');
  });

  it("keeps them when anything listens to them: Express's res.on('close') and req.on('close') still fire", async () => {
    const heard: string[] = [];
    const s = await serve((ev) => {
      const app = express5();
      app.use((req, res, next) => {
        res.on('close', () => heard.push('res close'));
        req.on('close', () => heard.push('req close'));
        next();
      });
      app.get('/events', express({ events: ev }));
      return app as unknown as Listener;
    });
    const c = await openClient(s.url('/events?channel=k'));
    expect(await collected(s.refs), 'request and response kept').toBe(false);
    await s.ev.publish('k', { event: 'n', data: 1 });
    await c.waitFor((x) => x.named('n').length === 1, 5000, 'an event');
    c.close();
    await until(() => heard.length === 2 && s.disconnects.length === 1, 5000, 'both close listeners');
    expect(heard.sort()).toEqual(['req close', 'res close']);
  });
});

describe('a released connection behaves as before', () => {
  it('server.closeAllConnections() and server.close() end it', async () => {
    const s = await serve((ev) => createHandler({ events: ev }));
    const c = await openClient(s.url('/?channel=a'));
    expect(await collected(s.refs)).toBe(true);
    s.server.closeAllConnections();
    const closed = new Promise<void>((r) => s.server.close(() => r()));
    await closed;
    await c.waitFor((x) => x.ended, 5000, 'the stream to end');
    await until(() => s.disconnects.length === 1, 5000, 'the disconnect');
    expect(s.disconnects[0]!.reason).toBe('client');
  });

  it('server.close() alone leaves it open, as any response in progress', async () => {
    const s = await serve((ev) => createHandler({ events: ev }));
    const c = await openClient(s.url('/?channel=a'));
    expect(await collected(s.refs)).toBe(true);
    let serverClosed = false;
    s.server.close(() => {
      serverClosed = true;
    });
    await s.ev.publish('a', { event: 'n', data: 'still here' });
    await c.waitFor((x) => x.named('n').length === 1, 5000, 'an event after server.close()');
    expect(serverClosed).toBe(false);
    s.server.closeAllConnections();
    await until(() => serverClosed, 5000, 'the server to close');
  });

  it('ev.close() ends it with the last chunk and closes the connection, so server.close() completes', async () => {
    const s = await serve((ev) => createHandler({ events: ev }));
    const raw = rawClient(s.port, GET('/?channel=a'));
    await until(() => raw.state.text.includes('event: stream-open'), 5000, 'stream-open');
    expect(await collected(s.refs)).toBe(true);
    await s.ev.close();
    await until(() => raw.state.ended, 5000, 'the server to close the connection');
    expect(raw.state.text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(raw.state.text).toMatch(/\r\ntransfer-encoding: chunked\r\n/i);
    expect(raw.state.text.endsWith('\r\n0\r\n\r\n')).toBe(true);
    await new Promise<void>((r) => s.server.close(() => r()));
  });

  it('a request pipelined after the head closes the connection', async () => {
    const s = await serve((ev) => createHandler({ events: ev }));
    const raw = rawClient(s.port, GET('/?channel=a'));
    await until(() => raw.state.text.includes('event: stream-open'), 5000, 'stream-open');
    expect(await collected(s.refs)).toBe(true);
    raw.socket.write(GET('/?channel=b'));
    await until(() => raw.state.closed, 5000, 'the server to close the connection');
    await until(() => s.disconnects.length === 1, 5000, 'the disconnect');
    expect(s.disconnects).toEqual([{ channels: ['a'], reason: 'client' }]);
    expect(raw.state.text).not.toContain('channel=b');
    expect(raw.state.text.match(/HTTP\/1\.1/g)).toHaveLength(1);
  });

  it('a client that ends its side has the connection ended by the server', async () => {
    const s = await serve((ev) => createHandler({ events: ev }));
    const raw = rawClient(s.port, GET('/?channel=a'), true);
    await until(() => raw.state.text.includes('event: stream-open'), 5000, 'stream-open');
    expect(await collected(s.refs)).toBe(true);
    raw.socket.end();
    await until(() => raw.state.ended, 5000, "the server's end");
    await until(() => s.disconnects.length === 1, 5000, 'the disconnect');
    expect(s.disconnects[0]!.reason).toBe('client');
  });

  it("a 'data' listener added to its socket takes the reading over from the parser, as under node:http", async () => {
    let socket: net.Socket | undefined;
    const s = await serve((ev) => {
      const handler = createHandler({ events: ev });
      return (req, res) => {
        socket = req.socket;
        handler(req, res);
      };
    });
    const raw = rawClient(s.port, GET('/?channel=a'));
    await until(() => raw.state.text.includes('event: stream-open'), 5000, 'stream-open');
    expect(await collected(s.refs)).toBe(true);
    let read = '';
    socket!.on('data', (chunk: Buffer) => {
      read += chunk.toString('latin1');
    });
    raw.socket.write('not a request');
    await until(() => read === 'not a request', 5000, 'the bytes at the new listener');
    await s.ev.publish('a', { event: 'n', data: 1 });
    await until(() => raw.state.text.includes('event: n\n'), 5000, 'an event after the takeover');
    expect(raw.state.closed).toBe(false);
  });

  it('headersTimeout and requestTimeout do not end it', async () => {
    const s = await serve((ev) => createHandler({ events: ev }), {
      headersTimeout: 200,
      requestTimeout: 200,
      connectionsCheckingInterval: 50,
    });
    const c = await openClient(s.url('/?channel=a'));
    expect(await collected(s.refs)).toBe(true);
    // A witness that never finishes its headers: once the server timed it out, the stream (older
    // than both timeouts by then) has been through the same checks.
    const witness = rawClient(s.port, 'GET /?channel=w HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    await until(() => witness.state.closed, 5000, 'the witness to time out');
    expect(witness.state.text).toContain('408');
    await s.ev.publish('a', { event: 'n', data: 1 });
    await c.waitFor((x) => x.named('n').length === 1, 5000, 'an event after the timeouts');
    expect(s.disconnects).toEqual([]);
  });

  it('server.maxConnections still counts it', async () => {
    const s = await serve((ev) => createHandler({ events: ev }));
    s.server.maxConnections = 1;
    const c = await openClient(s.url('/?channel=a'));
    expect(await collected(s.refs)).toBe(true);
    const refused = rawClient(s.port, GET('/?channel=b'));
    await until(() => refused.state.closed, 5000, 'the second connection to be refused');
    expect(refused.state.text).toBe('');
    c.close();
    await until(() => s.disconnects.length === 1, 5000, 'the first to leave');
    await untilConnections(s.server, 0);
    await openClient(s.url('/?channel=c'));
  });
});
