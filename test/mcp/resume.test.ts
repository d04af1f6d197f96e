// express-eventstream/mcp with the SDK's own client and server (in-process history): resuming a
// tool call after the connection is cut, and what the event store promises the SDK's transport.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { events } from '../../src/index.js';
import { McpResumeError, mcpEventStore } from '../../src/integrations/mcp/index.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { connectClient, resultsSaying } from './client.js';
import { startMcpProcess } from './processes.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const message = (n: number) => ({ jsonrpc: '2.0', method: 'notifications/message', params: { n } });

describe('MCP resume through a cut connection', () => {
  it('a tool call whose stream is cut mid-call gets every progress notification and its result once', async () => {
    const server = await startMcpProcess('solo', {}, cleanups);
    const proxy = await startTcpProxy({ port: server.port });
    cleanups.push(() => proxy.close());
    const c = await connectClient(`http://${proxy.address}/mcp`);
    cleanups.push(() => c.close());
    const progress: number[] = [];
    const call = c.count(6, true, progress);
    await vi.waitFor(() => expect(progress).toEqual([1, 2, 3]), { timeout: 30_000, interval: 20 });
    expect(proxy.cutAll()).toBeGreaterThan(0);
    // The rest is produced while the client is away; it resumes with its last event id.
    await server.release();
    const result = await call;
    expect(result).toMatchObject({ content: [{ type: 'text', text: 'counted 6' }] });
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
    expect(resultsSaying(c.messages, 'counted 6')).toBe(1);
    expect(c.errors.filter((e) => /unknown message ID/i.test(e))).toEqual([]);
  });

  it('answers a GET with an unknown or malformed Last-Event-ID with an error status, never an empty 200', async () => {
    const server = await startMcpProcess('solo', {}, cleanups);
    const c = await connectClient(`http://127.0.0.1:${server.port}/mcp`);
    cleanups.push(() => c.close());
    const session = c.transport.sessionId!;
    const get = (lastEventId: string) =>
      fetch(`http://127.0.0.1:${server.port}/mcp`, {
        headers: {
          accept: 'text/event-stream',
          'mcp-session-id': session,
          'mcp-protocol-version': '2025-11-25',
          'last-event-id': lastEventId,
        },
      });
    const unknown = await get('00000000-0000-4000-8000-000000000000.zzzz-999999');
    expect(unknown.status).toBe(500);
    expect(await unknown.text()).toContain('Error replaying events');
    await server.waitFor(/names no stored event of this session/);
    const malformed = await get('not-an-id-of-ours');
    expect(malformed.status).toBe(400);
    await malformed.text();
  });
});

describe('mcpEventStore()', () => {
  it('a replay sends what is stored while it runs, before it returns', async () => {
    const ev = events();
    cleanups.push(() => ev.close());
    const store = mcpEventStore(ev, 'session-a');
    const first = await store.storeEvent('_GET_stream', message(1));
    await store.storeEvent('_GET_stream', message(2));
    const sent: unknown[] = [];
    await store.replayEventsAfter(first, {
      send: async (_id, m) => {
        sent.push(m);
        // The transport stores more on the stream while the replay runs: the SDK attaches the
        // resumed stream only after the replay returns, so these must be in the replay.
        if (sent.length === 1) await store.storeEvent('_GET_stream', message(3));
      },
    });
    expect(sent).toEqual([message(2), message(3)]);
  });

  it("keeps sessions apart: one session's ids are unknown to another's store", async () => {
    const ev = events();
    cleanups.push(() => ev.close());
    const a = mcpEventStore(ev, 'session-a');
    const b = mcpEventStore(ev, 'session-b');
    const aFirst = await a.storeEvent('_GET_stream', {});
    await a.storeEvent('_GET_stream', message(1));
    const bFirst = await b.storeEvent('_GET_stream', {});
    await b.storeEvent('_GET_stream', message(2));
    const sent: unknown[] = [];
    await a.replayEventsAfter(aFirst, { send: async (_id, m) => void sent.push(m) });
    expect(sent).toEqual([message(1)]);
    const refused = await b.replayEventsAfter(aFirst, { send: async () => {} }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(McpResumeError);
    expect((refused as McpResumeError).reason).toBe('unknown-event-id');
    expect((refused as McpResumeError).message).toContain('session-b');
    const own: unknown[] = [];
    expect(await b.replayEventsAfter(bFirst, { send: async (_id, m) => void own.push(m) })).toBe(
      '_GET_stream',
    );
    expect(own).toEqual([message(2)]);
  });

  it('refuses a session id that would break its channel names, and an Events object without history', () => {
    const ev = events();
    cleanups.push(() => ev.close());
    expect(() => mcpEventStore(ev, 'a,b')).toThrow(McpResumeError);
    const noHistory = events({ history: false });
    cleanups.push(() => noHistory.close());
    expect(() => mcpEventStore(noHistory, 's')).toThrow(/history: false/);
  });
});
