// One behaviour suite for every framework adapter, each running the same small app on the
// real framework with its compression middleware mounted:
//   upstream hook/middleware: `?blocked=1` → 401 (proves it runs before the endpoint), and the
//     `x-user` header becomes the request's user (read by `authorize` from the framework's object)
//   GET  /events               channels from ?channel=, authorize: channel `private` needs user `admin`
//   GET  /rooms/:room/events   channels from the framework's route params
//   POST /messages             body text → channel `messages` (the seed README's example)
//   GET  /big                  16 KiB of text, compressed by the framework's compression
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type Events, events } from '../../src/index.js';
import { connect, request, type SseClient, until } from './sse-client.js';

export interface FrameworkApp {
  base: string;
  /** The framework's node:http server (the release test watches its sockets close). */
  server: http.Server;
  close(): Promise<void>;
}

export const BIG_TEXT = 'compress me '.repeat(1400);

export function frameworkSuite(name: string, start: (ev: Events) => Promise<FrameworkApp>): void {
  describe(`${name} adapter (real framework, compression mounted)`, () => {
    let app: FrameworkApp | undefined;
    let ev: Events | undefined;
    const clients: SseClient[] = [];

    afterEach(async () => {
      for (const c of clients.splice(0)) c.close();
      await ev?.close();
      await app?.close();
      app = undefined;
      ev = undefined;
    });

    async function setup(): Promise<{ base: string; ev: Events }> {
      ev = events();
      app = await start(ev);
      return { base: app.base, ev };
    }

    async function open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
      const c = await connect(url, {
        accept: 'text/event-stream',
        'accept-encoding': 'gzip, br',
        ...headers,
      });
      clients.push(c);
      await c.waitFor((x) => x.events.length >= 1 || x.ended, 5000, 'first event');
      return c;
    }

    it("runs the seed README's example: stream-open, then a POSTed message at once, uncompressed", async () => {
      const { base } = await setup();
      // The compression middleware is live: an ordinary response is compressed.
      const big = await request(`${base}/big`, { headers: { 'accept-encoding': 'gzip' } });
      expect(big.status).toBe(200);
      expect(big.headers['content-encoding']).toBe('gzip');

      const c = await open(`${base}/events?channel=messages`);
      expect(c.status).toBe(200);
      expect(c.headers['content-type']).toBe('text/event-stream; charset=utf-8');
      expect(c.headers['content-encoding']).toBeUndefined();
      expect(c.events[0]?.event).toBe('stream-open');
      const post = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          `${base}/messages`,
          { method: 'POST', headers: { 'content-type': 'text/plain' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end('hello there');
      });
      expect(post).toBe(201);
      // Arrives while the response is still open: nothing buffers it.
      await c.waitFor((x) => x.named('message').length === 1, 5000, 'the message');
      expect(JSON.parse(c.named('message')[0]!.data)).toEqual({ text: 'hello there' });
      expect(c.ended).toBe(false);
    });

    it('delivers events of the subscribed channels only, in order', async () => {
      const { base, ev } = await setup();
      const c = await open(`${base}/events?channel=a&channel=b`);
      expect(ev.stats().subscribers).toEqual({ a: 1, b: 1 });
      await ev.publish('a', { event: 'n', data: 1 });
      await ev.publish('c', { event: 'n', data: 2 });
      await ev.publish('b', { event: 'n', data: 3 });
      await c.waitFor((x) => x.named('n').length === 2, 5000, 'two events');
      expect(c.named('n').map((e) => e.data)).toEqual(['1', '3']);
    });

    it('passes the framework request to channels() (route params)', async () => {
      const { base, ev } = await setup();
      const c = await open(`${base}/rooms/lobby/events`);
      expect(ev.stats().subscribers).toEqual({ 'room-lobby': 1 });
      await ev.publish('room-lobby', { event: 'hi', data: 'x' });
      await c.waitFor((x) => x.named('hi').length === 1);
    });

    it('runs upstream hooks first and passes their user to authorize()', async () => {
      const { base, ev } = await setup();
      const blocked = await request(`${base}/events?channel=a&blocked=1`, {
        headers: { accept: 'text/event-stream' },
      });
      expect(blocked.status).toBe(401);
      const denied = await open(`${base}/events?channel=private`, { 'x-user': 'guest' });
      await denied.waitFor((x) => x.ended);
      expect(denied.events.map((e) => e.event)).toEqual(['stream-error']);
      expect(JSON.parse(denied.events[0]!.data).condition).toBe('forbidden');
      const admin = await open(`${base}/events?channel=private`, { 'x-user': 'admin' });
      expect(admin.events[0]?.event).toBe('stream-open');
      expect(ev.stats().subscribers).toEqual({ private: 1 });
    });

    it('refuses bad requests: stream-error for EventSource, 400 for others, 406, 204 after an error id', async () => {
      const { base, ev } = await setup();
      const es = await open(`${base}/events?channel=a%3Bb`);
      await es.waitFor((x) => x.ended);
      expect(es.events).toHaveLength(1);
      expect(es.events[0]).toMatchObject({ event: 'stream-error', id: 'error' });
      expect(JSON.parse(es.events[0]!.data).condition).toBe('bad-request');
      const plain = await request(`${base}/events?channel=a%3Bb`, { headers: { accept: '*/*' } });
      expect(plain.status).toBe(400);
      const json = await request(`${base}/events?channel=a`, { headers: { accept: 'application/json' } });
      expect(json.status).toBe(406);
      const stop = await request(`${base}/events?channel=a`, {
        headers: { accept: 'text/event-stream', 'last-event-id': 'error' },
      });
      expect(stop.status).toBe(204);
      expect(ev.stats().connections).toBe(0);
    });

    it('resumes after Last-Event-ID with the missed events', async () => {
      const { base, ev } = await setup();
      const first = await open(`${base}/events?channel=a`);
      for (const n of [1, 2, 3]) await ev.publish('a', { event: 'n', data: n });
      await first.waitFor((x) => x.named('n').length === 3);
      const lastSeen = first.named('n')[0]!.id!;
      first.close();
      const again = await open(`${base}/events?channel=a`, { 'last-event-id': lastSeen });
      await again.waitFor((x) => x.named('n').length === 2, 5000, 'the replay');
      expect(again.named('n').map((e) => e.data)).toEqual(['2', '3']);
      expect(again.named('n').map((e) => e.id)).toEqual(
        first
          .named('n')
          .slice(1)
          .map((e) => e.id),
      );
    });

    it('releases the subscription when the client disconnects', async () => {
      const { base, ev } = await setup();
      // Timed on the server, not by this client's waits: when the server's socket of each
      // stream closed, and when the library released that stream ('disconnect').
      const socketClosedAt: number[] = [];
      app!.server.on('connection', (socket) => {
        const i = socketClosedAt.push(Number.NaN) - 1;
        socket.once('close', () => {
          socketClosedAt[i] = performance.now();
        });
      });
      const released: Array<{ at: number; channels: readonly string[]; reason: string }> = [];
      ev.on('disconnect', ({ channels, reason }) =>
        released.push({ at: performance.now(), channels, reason }),
      );
      const c = await open(`${base}/events?channel=a&channel=b`);
      const d = await open(`${base}/events?channel=a`);
      expect(ev.stats().connections).toBe(2);
      // Generous waits: a loaded machine may be slow to deliver the close to the server.
      c.close();
      await until(() => ev.stats().connections === 1, 20_000, 'the first disconnect');
      expect(ev.stats().subscribers).toEqual({ a: 1 });
      d.close();
      await until(() => ev.stats().connections === 0, 20_000, 'the second disconnect');
      expect(ev.stats().subscribers).toEqual({});
      expect(released.map(({ channels, reason }) => [channels, reason])).toEqual([
        [['a', 'b'], 'client'],
        [['a'], 'client'],
      ]);
      // Released at once when the server saw the socket close (or before: the end of the
      // request can be noticed first): within the one second, on the server's clock.
      await until(
        () => socketClosedAt.length === 2 && socketClosedAt.every((t) => !Number.isNaN(t)),
        20_000,
        'sockets closed',
      );
      released.forEach(({ at }, i) => {
        expect(at - socketClosedAt[i]!, `release ${i + 1} after its socket closed (ms)`).toBeLessThan(1000);
      });
    });
  });
}
