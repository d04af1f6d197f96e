// Origin processes sharing one Redis as history AND bus, clients connected straight to them (no
// proxy): chaos reconnects across processes, and Redis killed and restarted under the full stack.
import { afterEach, describe, expect, it } from 'vitest';
import { chaosClient } from '../helpers/chaos-client.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { connect, type SseClient, until } from '../helpers/sse-client.js';
import { type OriginProcess, type PublishOutcome, publishOk, startOrigin } from './origin-process.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function redisServer(aof: boolean): Promise<RedisInstance> {
  const r = await startRedis({ aof });
  cleanups.push(() => r.stop());
  return r;
}

function origins(count: number, env: Record<string, string>): Promise<OriginProcess[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) => startOrigin(String.fromCharCode(97 + i), env, cleanups)),
  );
}

async function stream(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const c = await connect(url, { accept: 'text/event-stream', ...headers });
  cleanups.push(() => c.close());
  return c;
}

const n = (data: number) => ({ event: 'n', data });
const numbers = (c: SseClient) => c.named('n').map((e) => JSON.parse(e.data) as number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('origin processes sharing one Redis as history and bus', () => {
  it('chaos: 3 clients reconnect 100+ times each to a random one of 3 processes during 5,000 events published from all three: every event once, in order', async () => {
    const redis = await redisServer(false);
    const procs = await origins(3, { REDIS_URL: redis.url, NS: 'chaos', BUS: '1' });
    const total = 5000;
    const batch = 10;
    const pick = () => procs[Math.floor(Math.random() * procs.length)]!.url('/events?channel=chaos');
    const runs = Array.from({ length: 3 }, () => chaosClient(pick, total, 60));
    await until(() => runs.every((r) => r.connected), 15_000, 'clients connected');
    // Batches rotate over the processes, each awaited, so seq order is data order.
    for (let first = 1, k = 0; first <= total; first += batch, k++) {
      await publishOk(procs[k % procs.length]!, 'chaos', range(first, first + batch - 1).map(n));
    }
    await Promise.all(runs.map((r) => r.done));
    const expected = range(1, total);
    runs.forEach((run, i) => {
      expect(run.received, `client ${i}`).toEqual(expected);
      expect(run.cuts, `client ${i} reconnects`).toBeGreaterThanOrEqual(100);
      expect(run.resets, `client ${i} resets`).toBe(0);
      for (const p of procs) expect(run.servedBy[p.name], `client ${i} on ${p.name}`).toBeGreaterThan(10);
    });
  }, 120_000);

  it('a subscriber process whose Redis connection is cut (CLIENT KILL) while another publishes fills the gap: its clients get every event once, in order', async () => {
    const redis = await redisServer(false);
    // Each origin names its connections (ioredis reads connectionName from the URL), so the
    // test can cut exactly one process' subscriber connection.
    const [a, b] = await Promise.all(
      ['a', 'b'].map((name) =>
        startOrigin(
          name,
          { REDIS_URL: `${redis.url}/?connectionName=origin-${name}`, NS: 'cut', BUS: '1' },
          cleanups,
        ),
      ),
    );
    const subscriber = (name: string) => {
      const lines = redis
        .cli('CLIENT', 'LIST', 'TYPE', 'pubsub')
        .split('\n')
        .filter((l) => l.includes(` name=${name} `));
      expect(lines, `pub/sub connections of ${name}`).toHaveLength(1);
      return /\bid=(\d+)/.exec(lines[0]!)![1]!;
    };
    const path = '/events?channel=cut';
    const onA = await stream(a!.url(path));
    const onB = await stream(b!.url(path));
    for (const c of [onA, onB]) await c.waitFor((x) => x.named('stream-open').length === 1);
    const [subA, subB] = [subscriber('origin-a'), subscriber('origin-b')];
    const syncsBefore = (await b!.stats()).bus!.syncs!;

    const total = 2000;
    const batch = 20;
    for (let first = 1; first <= total; first += batch) {
      // Cut b's subscriber connection halfway: a goes on publishing while b reconnects.
      if (first === total / 2 + 1) expect(redis.cli('CLIENT', 'KILL', 'ID', subB)).toBe('1');
      await publishOk(a!, 'cut', range(first, first + batch - 1).map(n));
    }
    for (const c of [onA, onB]) await c.waitFor((x) => numbers(x).length >= total, 20_000, `${total} events`);
    expect(numbers(onB)).toEqual(range(1, total));
    expect(numbers(onA)).toEqual(range(1, total));
    for (const c of [onA, onB]) {
      expect(c.named('stream-reset')).toEqual([]);
      const seqs = c.named('n').map((e) => Number(e.id!.split('-')[1]));
      expect(seqs).toEqual(range(seqs[0]!, seqs[0]! + total - 1));
    }
    // b reconnected (a new subscriber connection) and caught up from the store; a was untouched.
    expect(subscriber('origin-b')).not.toBe(subB);
    expect(subscriber('origin-a')).toBe(subA);
    expect((await b!.stats()).bus!.syncs).toBeGreaterThan(syncsBefore);
  }, 60_000);

  for (const aof of [true, false]) {
    it(`Redis killed and restarted mid-stream ${aof ? 'with' : 'without'} AOF: typed rejections while down, then every event or an explicit reset`, async () => {
      const redis = await redisServer(aof);
      const [a, b] = (await origins(2, {
        REDIS_URL: redis.url,
        NS: 'faults',
        BUS: '1',
        KEEP_ALIVE_MS: '200',
      })) as [OriginProcess, OriginProcess];
      const path = '/events?channel=k';
      const clients = await Promise.all([a, a, b, b].map((o) => stream(o.url(path))));
      const leaver = await stream(b.url(path));
      for (const c of [...clients, leaver]) await c.waitFor((x) => x.named('stream-open').length === 1);
      const via = (i: number) => (i % 2 === 0 ? a : b);
      for (const i of range(1, 20)) await publishOk(via(i), 'k', [n(i)]);
      await leaver.waitFor((x) => numbers(x).length === 20, 10_000, 'events 1-20');
      const leftAt = leaver.named('n').at(-1)!.id!;
      leaver.close();

      await redis.kill();
      // Nothing can be stored: every publish rejects with the store's typed error.
      const down: PublishOutcome[] = [];
      for (const i of range(21, 25)) down.push(await via(i).publish('k', [n(i)]));
      expect(down).toEqual(Array(5).fill({ status: 502, code: 'ERR_SSE_STORE', cause: 'ERR_SSE_REDIS' }));
      // Open streams stay open and keep-alives go on.
      const kept = clients.map((c) => c.named('keep-alive').length);
      await until(
        () => clients.every((c, i) => c.named('keep-alive').length >= kept[i]! + 2),
        10_000,
        'keep-alives while Redis is down',
      );
      expect(clients.every((c) => !c.ended)).toBe(true);

      await redis.start();
      // The first publishes may still meet a reconnecting client: retry until stored.
      for (const i of range(26, 45)) {
        const deadline = Date.now() + 15_000;
        for (;;) {
          const r = await via(i).publish('k', [n(i)]);
          if (r.status === 200) break;
          expect(r.code).toBe('ERR_SSE_STORE');
          if (Date.now() > deadline) throw new Error(`event ${i} could not be published after the restart`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      await Promise.all(clients.map((c) => c.waitFor((x) => numbers(x).includes(45), 15_000, 'event 45')));
      for (const [i, c] of clients.entries()) {
        const got = numbers(c);
        const resets = c.named('stream-reset');
        if (aof) {
          // Same epoch: everything that was published, nothing else, in order.
          expect(got, `client ${i}`).toEqual([...range(1, 20), ...range(26, 45)]);
          expect(resets, `client ${i}`).toEqual([]);
        } else {
          // A new epoch: one explicit reset; before it 1-20, after it every event after its position.
          expect(
            resets.map((r) => JSON.parse(r.data)),
            `client ${i}`,
          ).toEqual([{ channels: ['k'], reason: 'unknown-id' }]);
          const order = c.events.filter((e) => e.event === 'n' || e.event === 'stream-reset');
          const at = order.findIndex((e) => e.event === 'stream-reset');
          expect(
            order.slice(0, at).map((e) => Number(e.data)),
            `client ${i}`,
          ).toEqual(range(1, 20));
          const [epoch, head] = order[at]!.id!.split('-');
          expect(epoch).not.toBe(leftAt.split('-')[0]);
          const after = order.slice(at + 1);
          expect(after.map((e) => e.id)).toEqual(after.map((_, k) => `${epoch}-${Number(head) + 1 + k}`));
          expect(after.map((e) => Number(e.data)).at(-1)).toBe(45);
          const data = after.map((e) => Number(e.data));
          expect(data).toEqual(range(45 - data.length + 1, 45));
        }
      }
      // A client that left before the kill comes back to the other process with its last id.
      const back = await stream(a.url(path), { 'last-event-id': leftAt });
      await back.waitFor((x) => x.named('stream-open').length === 1, 10_000, 'stream-open');
      if (aof) {
        await back.waitFor((x) => numbers(x).length === 20, 10_000, 'the replay of 26-45');
        expect(numbers(back)).toEqual(range(26, 45));
        expect(back.named('stream-reset')).toEqual([]);
      } else {
        await back.waitFor((x) => x.named('stream-reset').length === 1, 10_000, 'a reset');
        expect(JSON.parse(back.named('stream-reset')[0]!.data)).toEqual({
          channels: ['k'],
          reason: 'unknown-id',
        });
        expect(numbers(back)).toEqual([]);
      }
    }, 90_000);
  }
});
