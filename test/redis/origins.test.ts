// Two origin processes sharing one Redis history: a client that leaves origin A and comes back
// with Last-Event-ID to origin B gets exactly what it missed, whoever published it.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { connect } from '../helpers/sse-client.js';

let redis: RedisInstance;
const origins: ChildProcess[] = [];

function startOrigin(namespace: string, bus = false): Promise<{ url: (path: string) => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [new URL('./fixtures/worker.mjs', import.meta.url).pathname], {
      env: { ...process.env, MODE: 'origin', REDIS_URL: redis.url, NS: namespace, BUS: bus ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    origins.push(child);
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve({ url: (path) => `http://127.0.0.1:${m[1]}${path}` });
    });
    child.on('exit', (code) => reject(new Error(`origin exited ${code}`)));
  });
}

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const child of origins) child.kill('SIGTERM');
  await redis?.stop();
});

describe('two origins on one Redis history', () => {
  it('resumes on origin B exactly after the last event the client got from origin A', async () => {
    const [a, b] = await Promise.all([startOrigin('shared'), startOrigin('shared')]);
    const post = async (origin: typeof a, channel: string, data: unknown) => {
      const res = await fetch(origin.url(`/publish?channel=${channel}`), {
        method: 'POST',
        body: JSON.stringify({ data }),
      });
      expect(res.status).toBe(200);
    };
    const first = await connect(a.url('/events?channel=news&channel=sport'));
    await first.waitFor((c) => c.named('stream-open').length === 1);
    await post(a, 'news', 1);
    await post(a, 'sport', 2);
    await first.waitFor((c) => c.named('message').length === 2);
    const lastId = first.named('message').at(-1)!.id!;
    first.close();
    // Missed while away, published on both origins (and on a channel the client does not follow).
    await post(b, 'news', 3);
    await post(a, 'weather', 'x');
    await post(a, 'sport', 4);
    await post(b, 'news', 5);
    const second = await connect(b.url('/events?channel=news&channel=sport'), {
      accept: 'text/event-stream',
      'last-event-id': lastId,
    });
    await second.waitFor((c) => c.named('message').length === 3);
    expect(second.named('stream-open')[0]!.data).toBe('{"replayed":3}');
    expect(second.named('message').map((m) => m.data)).toEqual(['3', '4', '5']);
    const seqs = second.named('message').map((m) => Number(m.id!.split('-')[1]));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(second.named('stream-reset')).toEqual([]);
    second.close();
  });

  it('with the Redis bus: a client on origin A gets what origin B publishes, and its own events once', async () => {
    const [a, b] = await Promise.all([startOrigin('bussed', true), startOrigin('bussed', true)]);
    const post = async (origin: typeof a, channel: string, data: unknown) => {
      const res = await fetch(origin.url(`/publish?channel=${channel}`), {
        method: 'POST',
        body: JSON.stringify({ data }),
      });
      expect(res.status).toBe(200);
    };
    const onA = await connect(a.url('/events?channel=news'));
    const onB = await connect(b.url('/events?channel=news&channel=sport'));
    await onA.waitFor((c) => c.named('stream-open').length === 1);
    await onB.waitFor((c) => c.named('stream-open').length === 1);
    await post(b, 'news', 1);
    await post(a, 'news', 2);
    await post(b, 'sport', 3);
    await post(a, 'news', 4);
    await onA.waitFor((c) => c.named('message').length === 3);
    await onB.waitFor((c) => c.named('message').length === 4);
    expect(onA.named('message').map((m) => m.data)).toEqual(['1', '2', '4']);
    expect(onB.named('message').map((m) => m.data)).toEqual(['1', '2', '3', '4']);
    // One global sequence: the ids are the store's, in order, the same on both origins.
    const ids = (c: typeof onA) => c.named('message').map((m) => m.id!);
    expect(ids(onA)).toEqual(ids(onB).filter((_, i) => i !== 2));
    const seqs = ids(onB).map((id) => Number(id.split('-')[1]));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    onA.close();
    onB.close();
  });
});
