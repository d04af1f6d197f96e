// Redis unreachable (issue 19, defects 3 and 4): a subscriber whose history or bus cannot be
// reached gets a precise answer at once (a `stream-error` `unavailable` without id, a retry, the
// end of the stream: EventSource comes back later from its last id), errors name the endpoint and
// the cause; and subscriptions of clients that leave while their channel is being subscribed are
// not left behind in Redis or in the process.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createHandler, EventStoreError, type Events, events } from '../../src/index.js';
import { redis, redisStore } from '../../src/integrations/redis/index.js';
import { deadPort } from '../helpers/net.js';
import { startRedis } from '../helpers/redis.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type SseClient, until } from '../helpers/sse-client.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Served {
  ev: Events;
  server: TestServer;
  errors: Error[];
  /** When requests reached the handler and when streams were released (performance.now()). */
  arrived: number[];
  released: number[];
}

/** `ev` behind createHandler, noting on the server when requests arrive and streams end. */
async function serve(ev: Events): Promise<Served> {
  const errors: Error[] = [];
  ev.on('error', (e: Error) => errors.push(e));
  const released: number[] = [];
  ev.on('disconnect', () => released.push(performance.now()));
  const arrived: number[] = [];
  const handler = createHandler({ events: ev });
  const server = await startServer((req, res) => {
    arrived.push(performance.now());
    handler(req, res);
  });
  cleanups.push(async () => {
    await ev.close();
    await server.close();
  });
  return { ev, server, errors, arrived, released };
}

/** Server-side: from the first of the last `count` requests to the last release. */
async function answerMs(s: Served, count: number): Promise<number> {
  await until(() => s.released.length >= count, 5000, `${count} streams released`);
  return Math.max(...s.released.slice(-count)) - Math.min(...s.arrived.slice(-count));
}

/** What EventSource does: reconnect (after the retry it got) with its last id until a stream opens. */
async function resumeUntilOpen(url: string, lastId: string, timeoutMs: number): Promise<SseClient> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const c = await connect(url, { accept: 'text/event-stream', 'last-event-id': lastId });
    cleanups.push(() => c.close());
    await c.waitFor((x) => x.ended || x.named('stream-open').length === 1, 5000, 'an answer');
    if (c.named('stream-open').length === 1) return c;
    await new Promise((resolve) => setTimeout(resolve, c.retries[0] ?? 1000));
  }
  throw new Error(`no stream opened within ${timeoutMs} ms`);
}

/** The client got `stream-error` `unavailable` (no id: its position is kept), a retry, and the end. */
async function expectUnavailable(client: SseClient): Promise<void> {
  await client.waitFor((c) => c.ended, 5000, 'the end of the stream');
  expect(client.status).toBe(200);
  const errors = client.named('stream-error');
  expect(errors).toHaveLength(1);
  expect(errors[0]!.id).toBeUndefined();
  expect(JSON.parse(errors[0]!.data)).toEqual({
    condition: 'unavailable',
    text: 'Service Unavailable: the event history is unavailable',
  });
  expect(client.retries).toHaveLength(1);
  expect(client.retries[0]).toBeGreaterThanOrEqual(1000);
  expect(client.retries[0]).toBeLessThanOrEqual(3000);
  expect(client.named('stream-open')).toHaveLength(0);
}

describe('Redis unreachable: subscribers get an answer at once (defect 3)', () => {
  it('nothing listening, redis(url): stream-error unavailable and the end within 2 s; errors name the URL and ECONNREFUSED', async () => {
    const port = await deadPort();
    const url = `redis://:s3cret@127.0.0.1:${port}`;
    const s = await serve(events({ ...redis(url), keepAlive: false }));
    const clients = await Promise.all(['a', 'a', 'b'].map((c) => connect(s.server.url(`/?channel=${c}`))));
    for (const c of clients) await expectUnavailable(c);
    expect(await answerMs(s, 3)).toBeLessThan(2000);
    // The subscriber's failure: an EventStoreError whose cause names the endpoint (no password)
    // and the refused connection.
    const failure = s.errors.find((e) => e instanceof EventStoreError);
    expect(failure?.message).toMatch(
      new RegExp(
        `Redis \\w+ failed at redis://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`,
      ),
    );
    expect(s.errors.map((e) => e.message).join('\n')).not.toContain('s3cret');
    // A publish fails just as clearly, not with "Reached the max retries per request limit".
    const published = await s.ev.publish('a', { data: 1 }).catch((e: unknown) => e as Error);
    expect(published).toBeInstanceOf(EventStoreError);
    expect((published as Error).message).toContain(
      `Redis append failed at redis://127.0.0.1:${port}: connect ECONNREFUSED`,
    );
    expect((published as Error).message).not.toContain('max retries');
    // The bus' own failure reaches 'error' too.
    expect(s.errors.some((e) => e.message.startsWith('Redis subscriber connection failed at'))).toBe(true);
    // Nothing is held for the clients that were answered.
    expect(s.ev.stats().connections).toBe(0);
  });

  it('nothing listening, the store alone: the same answer within 2 s instead of a reset', async () => {
    const port = await deadPort();
    const history = redisStore({ url: `redis://127.0.0.1:${port}` });
    cleanups.push(() => history.close());
    const s = await serve(events({ history, keepAlive: false }));
    const client = await connect(s.server.url('/?channel=a'), {
      accept: 'text/event-stream',
      'last-event-id': 'abc-3',
    });
    await expectUnavailable(client);
    expect(await answerMs(s, 1)).toBeLessThan(2000);
    expect(s.errors[0]?.message).toMatch(
      new RegExp(`Redis \\w+ failed at redis://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`),
    );
  });

  it('Redis stopped mid-run: open streams stay, new subscribers are answered within 2 s, and resume once it is back', async () => {
    const server = await startRedis({ aof: true });
    cleanups.push(() => server.stop());
    const s = await serve(events({ ...redis(server.url), keepAlive: false }));
    const open = await connect(s.server.url('/?channel=a'));
    await open.waitFor((c) => c.named('stream-open').length === 1, 5000, 'stream-open');
    await s.ev.publish('a', { data: 'before' });
    await open.waitFor((c) => c.named('message').length === 1, 5000, 'the first event');
    const lastId = open.named('message')[0]!.id!;
    await server.kill();
    // A placed channel (read from the store) and a new one (subscribed on the bus).
    const before = s.released.length;
    const late = await Promise.all(['a', 'b'].map((c) => connect(s.server.url(`/?channel=${c}`))));
    for (const c of late) await expectUnavailable(c);
    expect(s.released.length).toBe(before + 2);
    expect(await answerMs(s, 2)).toBeLessThan(2000);
    expect(s.errors.some((e) => e.message.includes(`at ${server.url}: connect ECONNREFUSED`))).toBe(true);
    expect(open.ended).toBe(false);
    // Redis is back: what EventSource does after the retry (reconnect with its last id) works,
    // and the stream that stayed open gets what is published now.
    await server.start();
    const again = await resumeUntilOpen(s.server.url('/?channel=a'), lastId, 15_000);
    await s.ev.publish('a', { data: 'after' });
    await open.waitFor((c) => c.named('message').length === 2, 10_000, 'the event after the restart');
    await again.waitFor((c) => c.named('message').length === 1, 10_000, 'the resumed stream');
    expect(JSON.parse(again.named('message')[0]!.data)).toBe('after');
    open.close();
  });

  it('NODE_DEBUG says why the subscriber was answered: the endpoint and the refused connection, not a slow client', async () => {
    const port = await deadPort();
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_DEBUG: 'express-eventstream' };
    env.REDIS_URL = `redis://127.0.0.1:${port}`;
    delete env.NODE_OPTIONS;
    const app = fileURLToPath(new URL('./fixtures/unavailable-app.mjs', import.meta.url));
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [app], { env, timeout: 20_000 });
    expect(stdout).toContain('DONE');
    expect(stderr).toMatch(
      new RegExp(
        `\\[default\\] event store read failed: the event store failed: Redis \\w+ failed at redis://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`,
        'm',
      ),
    );
    expect(stderr).toMatch(
      /\[default\] conn=\d+ disconnect reason=server after \d+ ms from 127\.0\.0\.1 channels=a$/m,
    );
    expect(stderr).not.toContain('slow client dropped');
  });
});
