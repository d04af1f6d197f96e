// Long response streams: an answer of more chunks than `maxEventsPerChannel` (1,000 by default)
// is readable whole, from the start and after any id, for as long as it is retained, on the
// in-memory history and on a real Redis. `maxChunks` bounds a stream instead, refused at append.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Events, events, ResponseStreamError, streamHandler } from '../src/index.js';
import { redis } from '../src/integrations/redis/index.js';
import { type RedisInstance, startRedis } from './helpers/redis.js';
import { startServer, type TestServer } from './helpers/server.js';
import { connect, type SseClient } from './helpers/sse-client.js';

let redisServer: RedisInstance;
beforeAll(async () => {
  redisServer = await startRedis();
});
afterAll(async () => {
  await redisServer?.stop();
});

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

let n = 0;
const engines = {
  memory: () => ({}),
  redis: () => redis({ url: redisServer.url, namespace: `long${process.pid}x${++n}` }),
};

async function setup(engine: keyof typeof engines): Promise<{ ev: Events; server: TestServer }> {
  const ev = events({ ...engines[engine](), keepAlive: false });
  const server = await startServer(streamHandler({ events: ev }));
  cleanup.push(
    () => server.close(),
    () => ev.close(),
  );
  return { ev, server };
}

async function open(server: TestServer, id: string, lastEventId?: string): Promise<SseClient> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  const client = await connect(server.url(`/streams/${id}`), headers);
  cleanup.push(() => client.close());
  return client;
}

const CHUNKS = 5000;

for (const engine of ['memory', 'redis'] as const)
  describe(`long response streams (${engine})`, () => {
    it(`a ${CHUNKS}-chunk answer replays whole from the start and after any id`, async () => {
      const { ev, server } = await setup(engine);
      const s = ev.stream('long-1');
      const chunks = Array.from({ length: CHUNKS }, (_, i) => `t${i} `);
      for (const chunk of chunks) void s.append(chunk);
      await s.end();
      const whole = await open(server, 'long-1');
      await whole.waitFor((c) => c.ended, 60_000, 'the whole answer');
      const messages = whole.events.filter((e) => e.event === 'message');
      expect(messages.map((e) => e.data)).toEqual(chunks);
      expect(whole.events.at(-1)).toMatchObject({ event: 'end', data: '{"status":"done"}' });
      for (const cut of [0, 999, 1000, 2500, CHUNKS - 2, CHUNKS - 1]) {
        const at = whole.events[cut]!;
        const resumed = await open(server, 'long-1', at.id);
        await resumed.waitFor((c) => c.ended, 60_000, `the answer after chunk ${cut}`);
        const offset = whole.body.indexOf(`id: ${at.id}\n`);
        expect(resumed.body).toBe(whole.body.slice(whole.body.indexOf('\n\n', offset) + 2));
      }
    });

    it('a reader of a live long answer gets every chunk as it comes', async () => {
      const { ev, server } = await setup(engine);
      const s = ev.stream('long-2');
      const client = await open(server, 'long-2');
      const chunks = Array.from({ length: CHUNKS }, (_, i) => `c${i} `);
      for (const chunk of chunks) void s.append(chunk);
      await s.end();
      await client.waitFor((c) => c.ended, 60_000, 'the live answer');
      expect(client.events.filter((e) => e.event === 'message').map((e) => e.data)).toEqual(chunks);
    });

    it('maxChunks bounds a stream: the chunk past it is refused with a typed error, the rest stays whole', async () => {
      const { ev, server } = await setup(engine);
      expect(() => ev.stream('bad', { maxChunks: 0 })).toThrow(/maxChunks/);
      expect(() => ev.stream('bad', { maxChunks: 1_000_001 })).toThrow(/maxChunks/);
      const s = ev.stream('long-3', { maxChunks: 3 });
      for (const chunk of ['a', 'b', 'c']) await s.append(chunk);
      const refused = await s.append('d').catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(ResponseStreamError);
      expect(refused).toMatchObject({ problem: 'too-long', streamId: 'long-3' });
      expect(String((refused as Error).message)).toMatch(/long-3.*maxChunks \(3\)/);
      await s.end();
      const client = await open(server, 'long-3');
      await client.waitFor((c) => c.ended, 30_000, 'the bounded answer');
      expect(client.events.map((e) => e.data)).toEqual(['a', 'b', 'c', '{"status":"done"}']);
    });
  });
