// The Fastify 5 and Koa 3 adapters of the built package (`express-eventstream/fastify`, `/koa`),
// each in the seed README's example with its compression middleware mounted, served by Bun and by
// Deno (their node:http) to a real SSE client. One server process per runtime and framework
// (test/runtimes/fixtures/framework-server.mjs); Node runs the same apps in-process
// (test/frameworks/).
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  expectRelease,
  expectResume,
  type Remote,
  type RemoteStats,
  remoteOf,
} from '../helpers/remote-suite.js';
import { type Runtime, type RuntimeServer, startRuntimeServer } from '../helpers/runtime.js';
import { connect, request, type SseClient } from '../helpers/sse-client.js';

const script = fileURLToPath(new URL('./fixtures/framework-server.mjs', import.meta.url));
const FRAMEWORK = {
  fastify: 'Fastify 5 with @fastify/compress',
  koa: 'Koa 3 with koa-compress',
} as const;

/** The Koa fixture's /stats: also the codes of the errors Koa reported to app.on('error'). */
type KoaStats = RemoteStats & { appErrors: string[] };

for (const runtime of ['bun', 'deno'] as const satisfies readonly Runtime[]) {
  for (const framework of ['fastify', 'koa'] as const) {
    describe(`${FRAMEWORK[framework]} on ${runtime} (built package)`, () => {
      let server: RuntimeServer;
      let remote: Remote;
      const clients: SseClient[] = [];

      beforeAll(async () => {
        server = await startRuntimeServer(runtime, script, { env: { EES_FRAMEWORK: framework } });
        remote = remoteOf(server);
      });
      afterAll(async () => {
        await server?.stop();
      });
      afterEach(async (ctx) => {
        for (const c of clients.splice(0)) c.close();
        if (ctx.task.result?.state === 'fail') console.error(`server output:\n${server.output()}`);
        await remote.statsUntil((s) => s.connections === 0, 5000, 'all streams released between tests');
      });

      async function open(path: string, headers: Record<string, string> = {}): Promise<SseClient> {
        const c = await connect(server.url(path), {
          accept: 'text/event-stream',
          'accept-encoding': 'gzip, deflate, br',
          ...headers,
        });
        clients.push(c);
        await c.waitFor((x) => x.events.length >= 1 || x.ended, 5000, 'first event');
        return c;
      }

      it('runs the seed example: stream-open, a POSTed message at once and uncompressed, several channels', async () => {
        // The compression middleware is live: an ordinary response is compressed.
        const big = await request(server.url('/big'), { headers: { 'accept-encoding': 'gzip' } });
        expect(big.status).toBe(200);
        expect(big.headers['content-encoding']).toBe('gzip');

        const c = await open('/events?channel=messages&channel=b');
        expect(c.status).toBe(200);
        expect(c.headers['content-type']).toBe('text/event-stream; charset=utf-8');
        expect(c.headers['content-encoding']).toBeUndefined();
        expect(c.events.map((e) => e.event)).toEqual(['stream-open']);
        expect((await remote.stats()).subscribers).toEqual({ messages: 1, b: 1 });

        const post = await fetch(server.url('/messages'), {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: 'hello there',
        });
        expect(post.status).toBe(201);
        // The response is still open: the event came through without waiting for more bytes.
        await c.waitFor((x) => x.named('message').length === 1, 5000, 'the message');
        expect(JSON.parse(c.named('message')[0]!.data)).toEqual({ text: 'hello there' });

        await remote.publish('c', 'n', 'not subscribed');
        await remote.publish('b', 'n', 'on b');
        await c.waitFor((x) => x.named('n').length === 1, 5000, 'the event on b');
        // An event of `c`, published first, would have arrived before it.
        expect(c.named('n').map((e) => e.data)).toEqual(['"on b"']);
        expect(c.ended).toBe(false);
      });

      it("refuses: the framework's hook first, authorize with its user, bad channels, 406, 204 after an error id", async () => {
        const blocked = await request(server.url('/events?channel=a&blocked=1'), {
          headers: { accept: 'text/event-stream' },
        });
        expect(blocked.status).toBe(401);
        const denied = await open('/events?channel=private', { 'x-user': 'guest' });
        await denied.waitFor((x) => x.ended, 5000, 'the end of the refusal');
        expect(denied.events.map((e) => e.event)).toEqual(['stream-error']);
        expect(JSON.parse(denied.events[0]!.data).condition).toBe('forbidden');
        const admin = await open('/events?channel=private', { 'x-user': 'admin' });
        expect(admin.events[0]?.event).toBe('stream-open');

        const bad = await open('/events?channel=a%3Bb');
        await bad.waitFor((x) => x.ended, 5000, 'the end of the refusal');
        expect(bad.events.map((e) => e.event)).toEqual(['stream-error']);
        expect(JSON.parse(bad.events[0]!.data).condition).toBe('bad-request');
        expect(
          (await request(server.url('/events?channel=a%3Bb'), { headers: { accept: '*/*' } })).status,
        ).toBe(400);
        expect(
          (await request(server.url('/events?channel=a'), { headers: { accept: 'application/json' } }))
            .status,
        ).toBe(406);
        const stop = await request(server.url('/events?channel=a'), {
          headers: { accept: 'text/event-stream', 'last-event-id': 'error' },
        });
        expect(stop.status).toBe(204);
        expect((await remote.stats()).subscribers).toEqual({ private: 1 });
      });

      it('resumes after Last-Event-ID with exactly the missed events', () => expectResume(open, remote));

      it('releases the subscription soon after the client disconnects', async () => {
        const before = await expectRelease(open, remote);
        if (framework === 'koa') {
          // Deno's node:http also emits a client's leaving as an 'error' on the socket, which Koa
          // watches: Koa reports each one to app.on('error') (and, without a listener, logs
          // `Error: aborted`). Node and Bun emit it on the request only, which Koa does not watch.
          // docs/frameworks.md#koa-3 says so; this fails when Deno changes.
          const seen = (before as KoaStats).appErrors.length;
          const errors = (s: RemoteStats) => (s as KoaStats).appErrors.slice(seen);
          if (runtime === 'deno')
            await remote.statsUntil((s) => errors(s).length === 2, 2000, "Koa's two error reports");
          expect(errors(await remote.stats())).toEqual(
            runtime === 'deno' ? ['ECONNRESET', 'ECONNRESET'] : [],
          );
        }
      });
    });
  }
}
