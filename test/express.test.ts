import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import compression from 'compression';
import express4 from 'express4';
import express5 from 'express5';
import { afterEach, describe, expect, it } from 'vitest';
import * as expressEventStream from '../src/index.js';
import { connect, request, type SseClient } from './helpers/sse-client.js';

const versions = [
  ['Express 4', express4],
  ['Express 5', express5],
] as const;

let server: Server | undefined;
let ev: expressEventStream.Events | undefined;
const clients: SseClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await ev?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function listen(app: (req: never, res: never) => void): Promise<string> {
  server = (app as unknown as { listen: (port: number, host: string) => Server }).listen(0, '127.0.0.1');
  await new Promise((r) => server!.once('listening', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function open(url: string, headers: Record<string, string> = { accept: 'text/event-stream' }) {
  const c = await connect(url, headers);
  clients.push(c);
  await c.waitFor((x) => x.events.length >= 1 || x.ended, 3000, 'first event');
  return c;
}

describe.each(versions)('%s', (_name, createApp) => {
  it("runs the seed README's example as written", async () => {
    // Steps 1-3 of the original README, with GRIP unset.
    const grip = undefined;
    const events = expressEventStream.events({ grip });
    ev = events;
    const app = createApp();
    app.get('/events/', expressEventStream.express({ events, grip }));
    app.post('/messages/', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        events
          .channel('messages')
          .write({ event: 'message', data: { text: Buffer.concat(chunks).toString() } });
        res.status(201).end();
      });
    });
    const base = await listen(app);
    const c = await open(`${base}/events/?channel=messages`);
    expect(c.events[0]!.event).toBe('stream-open');
    const post = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${base}/messages/`, { method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('hello there');
    });
    expect(post).toBe(201);
    await c.waitFor((x) => x.named('message').length === 1);
    expect(JSON.parse(c.named('message')[0]!.data)).toEqual({ text: 'hello there' });
  });

  it('mounts on any path with app.use and reads channels from route params', async () => {
    ev = expressEventStream.events();
    const app = createApp();
    app.use('/deep/stream', expressEventStream.express({ events: ev }));
    app.get(
      '/rooms/:room/events',
      expressEventStream.express({ events: ev, channels: (req) => [`room-${req.params?.room ?? ''}`] }),
    );
    const base = await listen(app);
    const a = await open(`${base}/deep/stream?channel=a`);
    const b = await open(`${base}/rooms/lobby/events`);
    expect(ev.stats().subscribers).toEqual({ a: 1, 'room-lobby': 1 });
    await ev.publish('room-lobby', { event: 'hi', data: 1 });
    await b.waitFor((x) => x.named('hi').length === 1);
    expect(a.named('hi')).toHaveLength(0);
  });

  it('answers errors itself and never passes them to next()', async () => {
    ev = expressEventStream.events();
    const app = createApp();
    let nextCalled = 0;
    app.get('/events', expressEventStream.express({ events: ev }));
    app.use((_req, res) => {
      nextCalled++;
      res.status(418).end();
    });
    const base = await listen(app);
    const res = await request(`${base}/events?channel=a%3Bb`);
    expect(res.status).toBe(400);
    const notAcceptable = await request(`${base}/events?channel=a`, {
      headers: { accept: 'application/json' },
    });
    expect(notAcceptable.status).toBe(406);
    expect(nextCalled).toBe(0);
  });

  it('delivers events immediately with compression() mounted before the route', async () => {
    ev = expressEventStream.events();
    const app = createApp();
    app.use(compression({ threshold: 0 }));
    app.get('/events', expressEventStream.express({ events: ev }));
    const base = await listen(app);
    const c = await open(`${base}/events?channel=a`, {
      accept: 'text/event-stream',
      'accept-encoding': 'gzip',
    });
    // no-transform keeps compression() from buffering (and from compressing) the stream.
    expect(c.headers['content-encoding']).toBeUndefined();
    for (let i = 0; i < 3; i++) {
      await ev.publish('a', { event: 'tick', data: i });
      // Each event must arrive on its own, before the next one is published.
      await c.waitFor((x) => x.named('tick').length === i + 1, 2000, `tick ${i}`);
    }
  });
});
