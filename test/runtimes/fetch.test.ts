// The built package's Fetch handler (`fetchHandler`, a `Request → Response` function) served by
// each runtime's own Fetch server: Bun.serve on Bun, Deno.serve on Deno, @hono/node-server (a
// real node:http → Request bridge) on Node; and mounted in Hono 4 behind its compress()
// middleware on Node, Bun and Deno. The same protocol suite as the node:http handler.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remoteOf, remoteSuite } from '../helpers/remote-suite.js';
import { type Runtime, type RuntimeServer, startRuntimeServer } from '../helpers/runtime.js';
import { connect, request, type SseClient } from '../helpers/sse-client.js';

const script = fileURLToPath(new URL('./fixtures/fetch-server.mjs', import.meta.url));
const dist = (file: string) => fileURLToPath(new URL(`../../dist/${file}`, import.meta.url));
const SERVER: Record<Runtime, string> = {
  node: '@hono/node-server',
  bun: 'Bun.serve',
  deno: 'Deno.serve',
};

function start(runtime: Runtime, framework?: 'hono'): Promise<RuntimeServer> {
  return startRuntimeServer(runtime, script, {
    env: {
      EES_ENTRY: dist('index.js'),
      EES_MAX_BUFFER: '65536',
      ...(framework !== undefined && { EES_FRAMEWORK: framework }),
    },
  });
}

for (const runtime of ['node', 'bun', 'deno'] as const) {
  remoteSuite(`fetchHandler on ${SERVER[runtime]} (${runtime})`, () => start(runtime), {
    stalledReader: true,
  });
  remoteSuite(`fetchHandler in Hono 4 with compress() on ${runtime}`, () => start(runtime, 'hono'), {
    stalledReader: true,
    getOnly: true,
  });

  describe(`Hono's compress() and the event stream on ${runtime}`, () => {
    let server: RuntimeServer;
    const clients: SseClient[] = [];
    beforeAll(async () => {
      server = await start(runtime, 'hono');
    });
    afterAll(async () => {
      for (const c of clients) c.close();
      await server?.stop();
    });

    it('compresses ordinary responses but not the stream, whose events arrive at once', async () => {
      const big = await request(server.url('/big'), { headers: { 'accept-encoding': 'gzip' } });
      expect(big.status).toBe(200);
      expect(big.headers['content-encoding']).toBe('gzip');
      const c = await connect(server.url('/events?channel=messages'), {
        accept: 'text/event-stream',
        'accept-encoding': 'gzip, deflate',
      });
      clients.push(c);
      expect(c.status).toBe(200);
      expect(c.headers['content-encoding']).toBeUndefined();
      await c.waitFor((x) => x.named('stream-open').length === 1, 5000, 'stream-open');
      const remote = remoteOf(server);
      await remote.publish('messages', 'message', 'hello there');
      // The response is still open: the event came through without waiting for more bytes.
      await c.waitFor((x) => x.named('message').length === 1, 5000, 'the message');
      expect(c.named('message')[0]?.data).toBe('"hello there"');
      expect(c.ended).toBe(false);
    });
  });
}
