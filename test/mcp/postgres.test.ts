// express-eventstream/mcp on PostgreSQL with the SDK's own client: the MCP EventStore and session
// registry over the Postgres engine. Two server processes behind a balancer; the one serving a
// tool call is killed with SIGKILL after storing its result but before the client received it (the
// connection cut); the client reconnects with its resumption token, reaches the other process,
// which adopts the session and replays from the shared history. And processes adopting one dead
// session at once: exactly one wins (compare-and-set on the state table).
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { events } from '../../src/index.js';
import { mcpSessions } from '../../src/integrations/mcp/index.js';
import { postgres } from '../../src/integrations/postgres/index.js';
import { type PostgresInstance, startPostgres } from '../helpers/postgres.js';
import { startBalancer } from './balancer.js';
import { connectClient, resultsSaying } from './client.js';
import { startMcpProcess } from './processes.js';

let server: PostgresInstance;
beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sharedEvents(namespace: string) {
  const ev = events({ ...postgres({ url: server.url, namespace }) });
  ev.on('error', () => {});
  cleanups.push(() => ev.close());
  return ev;
}

describe('MCP sessions across processes sharing PostgreSQL', () => {
  it('after the serving process is killed and the connection cut, the client resumes with its token on the other: every progress notification and the result once', async () => {
    const env = { PG_URL: server.url, LEASE_MS: '1500' };
    const a = await startMcpProcess('a', env, cleanups);
    const b = await startMcpProcess('b', env, cleanups);
    const balancer = await startBalancer([a.port, b.port]);
    cleanups.push(() => balancer.close());
    const c = await connectClient(`http://127.0.0.1:${balancer.port}/mcp`);
    cleanups.push(() => c.close());
    const progress: number[] = [];
    const call = c.count(6, true, progress);
    await vi.waitFor(() => expect(progress).toEqual([1, 2, 3]), { timeout: 30_000, interval: 20 });
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
    const again: number[] = [];
    expect(await c.count(2, false, again)).toMatchObject({ content: [{ text: 'counted 2' }] });
    expect(again).toEqual([1, 2]);
  }, 120_000);

  it('processes adopting one dead session at once: exactly one wins, the others are refused', async () => {
    const dead = mcpSessions(sharedEvents('race'), { leaseMs: 60_000 });
    const contenders = [0, 1, 2, 3].map(() => mcpSessions(sharedEvents('race'), { leaseMs: 60_000 }));
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
      expect(
        outcomes.filter((o) => o.status === 'fulfilled'),
        session,
      ).toHaveLength(1);
      for (const o of outcomes) {
        if (o.status === 'rejected') expect(o.reason).toMatchObject({ reason: 'session-owned' });
      }
    }
  }, 60_000);
});
