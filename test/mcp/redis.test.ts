// express-eventstream/mcp on Redis with the SDK's own client: two server processes behind a
// balancer, the one serving a tool call killed with SIGKILL after storing its result but before
// the client received it; the client resumes on the other process, which adopts the session.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { events } from '../../src/index.js';
import { mcpEventStore, mcpSessions } from '../../src/integrations/mcp/index.js';
import { redis } from '../../src/integrations/redis/index.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { startBalancer } from './balancer.js';
import { connectClient, resultsSaying } from './client.js';
import { startMcpProcess } from './processes.js';

let server: RedisInstance;
beforeAll(async () => {
  server = await startRedis();
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sharedEvents() {
  const ev = events({ ...redis(server.url) });
  ev.on('error', () => {});
  cleanups.push(() => ev.close());
  return ev;
}

describe('MCP sessions across processes sharing Redis', () => {
  it('after the serving process is killed, the client resumes on the other one: every progress notification and the result once', async () => {
    const env = { REDIS_URL: server.url, LEASE_MS: '1500' };
    const a = await startMcpProcess('a', env, cleanups);
    const b = await startMcpProcess('b', env, cleanups);
    const balancer = await startBalancer([a.port, b.port]);
    cleanups.push(() => balancer.close());
    const c = await connectClient(`http://127.0.0.1:${balancer.port}/mcp`);
    cleanups.push(() => c.close());
    const progress: number[] = [];
    const call = c.count(6, true, progress);
    await vi.waitFor(() => expect(progress).toEqual([1, 2, 3]), { timeout: 30_000, interval: 20 });
    // The network stops delivering; process a finishes the call, stores it, and dies.
    balancer.freeze(true);
    await a.release();
    await a.waitFor(/stored-result \S+ counted 6/);
    await a.kill();
    balancer.cutAll();
    balancer.freeze(false);
    const result = await call;
    expect(result).toMatchObject({ content: [{ type: 'text', text: 'counted 6' }] });
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
    expect(resultsSaying(c.messages, 'counted 6')).toBe(1);
    expect(b.output()).toContain(`adopted ${c.transport.sessionId}`);
    // The adopted session serves new calls too.
    const again: number[] = [];
    expect(await c.count(2, false, again)).toMatchObject({ content: [{ text: 'counted 2' }] });
    expect(again).toEqual([1, 2]);
  }, 90_000);

  it('refuses a session another live process serves, explicitly (409), instead of serving it half', async () => {
    const env = { REDIS_URL: server.url, LEASE_MS: '1500' };
    const a = await startMcpProcess('a', env, cleanups);
    const b = await startMcpProcess('b', env, cleanups);
    const c = await connectClient(`http://127.0.0.1:${a.port}/mcp`);
    cleanups.push(() => c.close());
    const res = await fetch(`http://127.0.0.1:${b.port}/mcp`, {
      method: 'POST',
      headers: {
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
        'mcp-session-id': c.transport.sessionId!,
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('served by another live process');
  }, 60_000);

  it('ids from processes sharing the history are unique, ordered by it, and resumable on either', async () => {
    const one = mcpEventStore(sharedEvents(), 'shared-session');
    const two = mcpEventStore(sharedEvents(), 'shared-session');
    const priming = await one.storeEvent('_GET_stream', {});
    const ids: string[] = [];
    for (let i = 1; i <= 10; i++) {
      const store = i % 2 === 0 ? two : one;
      ids.push(await store.storeEvent('_GET_stream', { jsonrpc: '2.0', method: 'n', params: { i } }));
    }
    expect(new Set(ids).size).toBe(10);
    // The priming event, stored by one process, is a resumption token on the other.
    const sent: Array<[string, unknown]> = [];
    await two.replayEventsAfter(priming, { send: async (id, m) => void sent.push([id, m]) });
    expect(sent.map(([id]) => id)).toEqual(ids);
    expect(sent.map(([, m]) => (m as { params: { i: number } }).params.i)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
  }, 60_000);

  it('a closed process gives its lease up: another adopts its sessions at once', async () => {
    const first = mcpSessions(sharedEvents(), { leaseMs: 60_000 });
    const second = mcpSessions(sharedEvents(), { leaseMs: 60_000 });
    cleanups.push(
      () => first.close(),
      () => second.close(),
    );
    const record = {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'c', version: '1' },
    };
    await first.save('s-1', record);
    await expect(second.adopt('s-1')).rejects.toMatchObject({ reason: 'session-owned' });
    await first.close();
    expect(await second.adopt('s-1')).toEqual(record);
    await expect(second.adopt('nope')).rejects.toMatchObject({ reason: 'unknown-session' });
  }, 60_000);

  it('processes adopting one dead session at once: exactly one wins, the others are refused', async () => {
    const dead = mcpSessions(sharedEvents(), { leaseMs: 60_000 });
    const contenders = [0, 1, 2, 3].map(() => mcpSessions(sharedEvents(), { leaseMs: 60_000 }));
    cleanups.push(...[dead, ...contenders].map((s) => () => s.close()));
    const record = {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'c', version: '1' },
    };
    const sessions = Array.from({ length: 20 }, (_, i) => `race-${i}`);
    for (const session of sessions) await dead.save(session, record);
    await dead.close();
    await Promise.all(contenders.map((c) => c.ready));
    for (const session of sessions) {
      const outcomes = await Promise.allSettled(contenders.map((c) => c.adopt(session)));
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      expect(won, session).toHaveLength(1);
      for (const o of outcomes) {
        if (o.status === 'rejected') expect(o.reason).toMatchObject({ reason: 'session-owned' });
      }
    }
  }, 60_000);
});
