// Bounds a client cannot get around: HTTP/1.1 pipelining, a resumer that stops reading, events
// larger than the buffer bound, and what a dropped client costs afterwards. Real servers and raw
// sockets on 127.0.0.1; every wait is on a condition.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/history/memory-store.js';
import {
  events as createEvents,
  createHandler,
  type DisconnectInfo,
  type Events,
  type EventsOptions,
  EventTooLargeError,
} from '../src/index.js';
import { startServer, type TestServer } from './helpers/server.js';
import { connect, type SseClient, until } from './helpers/sse-client.js';

interface Fixture {
  ev: Events;
  server: TestServer;
  /** Requests that reached the handler. */
  requests: () => number;
  /** Server-side sockets by the `tag` query parameter of the request that opened them. */
  sockets: Map<string, net.Socket>;
  connects: () => number;
  disconnects: DisconnectInfo[];
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(options: EventsOptions = {}): Promise<Fixture> {
  const ev = createEvents({ keepAlive: false, ...options });
  const handler = createHandler({ events: ev });
  const sockets = new Map<string, net.Socket>();
  let requests = 0;
  const server = await startServer((req: IncomingMessage, res: ServerResponse) => {
    requests++;
    const tag = new URL(req.url ?? '/', 'http://x').searchParams.get('tag');
    if (tag !== null) sockets.set(tag, req.socket);
    handler(req, res);
  });
  let connects = 0;
  const disconnects: DisconnectInfo[] = [];
  ev.on('connect', () => connects++);
  ev.on('disconnect', (d) => disconnects.push(d));
  cleanups.push(async () => {
    await ev.close();
    await server.close();
  });
  return { ev, server, requests: () => requests, sockets, connects: () => connects, disconnects };
}

/** A raw TCP client that sends `text` and never reads unless told to. */
function rawClient(port: number, text: string): net.Socket {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(text);
  cleanups.push(() => {
    socket.destroy();
  });
  return socket;
}

function get(path: string, lastEventId?: string): string {
  const resume = lastEventId === undefined ? '' : `Last-Event-ID: ${lastEventId}\r\n`;
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${resume}\r\n`;
}

function obtainGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** Heap and buffer memory after a full collection. */
function liveBytes(gc: () => void): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('HTTP/1.1 pipelining', () => {
  it('subscribes only the request that owns the socket, and leaves nothing once the client hangs up', async () => {
    const fx = await setup();
    // 100 pipelined subscriptions in one write: all but the first are queued behind its stream.
    let text = '';
    for (let i = 0; i < 100; i++) text += get(`/?channel=p${i % 7}`);
    const socket = rawClient(fx.server.port, text);
    let cut = false;
    socket.on('close', () => {
      cut = true;
    });
    socket.on('data', () => {});
    await until(
      () => fx.connects() === 1 && fx.requests() >= 2,
      5000,
      'the first subscribed, a second queued',
    );
    // Requests pipelined behind an event stream could never be answered: the server closes.
    await until(() => cut, 5000, 'the server to close the pipelining connection');
    socket.destroy();
    await until(() => fx.ev.stats().connections === 0, 5000, 'every subscription released');
    await new Promise((r) => setImmediate(r));
    expect(fx.connects()).toBe(1);
    expect(fx.disconnects).toEqual([{ channels: ['p0'], reason: 'client' }]);
    expect(fx.ev.stats().subscribers).toEqual({});
  });

  it('still answers pipelined requests in order: a stream queued behind a short response gets its turn', async () => {
    const fx = await setup();
    const socket = rawClient(
      fx.server.port,
      `OPTIONS / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${get('/?channel=q')}`,
    );
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    await until(() => fx.ev.stats().connections === 1, 5000, 'the queued stream subscribed');
    await fx.ev.publish('q', { event: 'n', data: 1 });
    await until(() => received.includes('event: n\n'), 5000, 'a live event on the queued stream');
    const options = received.indexOf('HTTP/1.1 204');
    const stream = received.indexOf('HTTP/1.1 200');
    expect(options).toBe(0);
    expect(stream).toBeGreaterThan(options);
    expect(received.indexOf('event: stream-open')).toBeGreaterThan(stream);
  });
});

describe('events larger than the buffer bound', () => {
  it('reach every client that keeps up: the bound measures backlog, not one write', async () => {
    const fx = await setup({ history: false, maxEventBytes: 8 * 1024 * 1024 });
    const clients: SseClient[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await connect(fx.server.url('/?channel=big'));
      cleanups.push(() => c.close());
      clients.push(c);
    }
    await until(() => fx.ev.stats().connections === 5, 5000, 'five readers');
    const data = 'x'.repeat(4 * 1024 * 1024); // 4 MiB, four times maxBufferBytes
    await fx.ev.publish('big', { event: 'big', data, raw: true });
    for (const c of clients) await c.waitFor((x) => x.named('big').length === 1, 20_000, 'the big event');
    for (const c of clients) expect(c.named('big')[0]!.data.length).toBe(data.length);
    expect(fx.ev.stats().slowClientsDropped).toBe(0);
    expect(fx.ev.stats().connections).toBe(5);
    expect(fx.disconnects).toEqual([]);
  }, 60_000);

  it('reach every client that keeps up when 100,000 are published in one tick (one large write)', async () => {
    const fx = await setup({ history: false });
    const clients: SseClient[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await connect(fx.server.url('/?channel=tick'));
      cleanups.push(() => c.close());
      clients.push(c);
    }
    await until(() => fx.ev.stats().connections === 2, 5000, 'two readers');
    const publishes: Promise<void>[] = [];
    // About 10 MB in one write per connection, ten times maxBufferBytes.
    const pad = 'x'.repeat(80);
    for (let i = 0; i < 100_000; i++) {
      publishes.push(fx.ev.publish('tick', { event: 'n', data: `${i} ${pad}`, raw: true }));
    }
    await Promise.all(publishes);
    for (const c of clients) await c.waitFor((x) => x.events.length === 100_001, 40_000, 'the tick');
    expect(clients[1]!.named('n').at(-1)!.data).toBe(`99999 ${pad}`);
    expect(fx.ev.stats().slowClientsDropped).toBe(0);
    expect(fx.disconnects).toEqual([]);
  }, 60_000);

  it('are refused at publish() beyond maxEventBytes (default: maxBufferBytes) with a typed error', async () => {
    const fx = await setup({ history: false, maxBufferBytes: 64 * 1024 });
    const c = await connect(fx.server.url('/?channel=big'));
    cleanups.push(() => c.close());
    await until(() => fx.ev.stats().connections === 1, 5000, 'a reader');
    const tooLarge = fx.ev.publish('big', { data: 'x'.repeat(64 * 1024), raw: true });
    await expect(tooLarge).rejects.toBeInstanceOf(EventTooLargeError);
    await expect(tooLarge).rejects.toMatchObject({ code: 'ERR_SSE_EVENT_TOO_LARGE', limit: 64 * 1024 });
    // Just under the limit (`data: ` and two line ends are counted) goes through.
    await fx.ev.publish('big', { event: 'fits', data: 'y'.repeat(64 * 1024 - 20), raw: true });
    await c.waitFor((x) => x.named('fits').length === 1, 5000, 'the event that fits');
    expect(c.events.filter((e) => e.data.startsWith('x'))).toEqual([]);
    expect(fx.ev.stats().publishErrors).toBe(1);
    expect(fx.ev.stats().slowClientsDropped).toBe(0);
  });
});

describe('dropped slow clients', () => {
  it('are cut with a reset, so no queued bytes outlive them in the kernel', async () => {
    const fx = await setup({ history: false, maxBufferBytes: 64 * 1024 });
    rawClient(fx.server.port, get('/?channel=feed&tag=slow'));
    await until(() => fx.ev.stats().connections === 1, 5000, 'the slow client subscribed');
    const payload = 'x'.repeat(16 * 1024);
    for (let i = 0; fx.ev.stats().slowClientsDropped === 0; i++) {
      if (i > 4096) throw new Error('the client was never dropped');
      await fx.ev.publish('feed', { data: payload, raw: true });
    }
    expect(fx.disconnects).toEqual([{ channels: ['feed'], reason: 'slow' }]);
    expect(fx.sockets.get('slow')!.destroyed).toBe(true);
    // A graceful close leaves the server's end in FIN-WAIT-1 with megabytes still queued for
    // the client, for as long as it stays connected without reading. A reset frees them.
    await until(() => serverQueued(fx.server.port) === 0, 5000, 'nothing queued on the server side');
  });
});

/** Bytes queued for sending on the server's side of connections to `port` (/proc/net/tcp). */
function serverQueued(port: number): number {
  let queued = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const localPort = Number.parseInt(f[1]!.split(':')[1]!, 16);
    if (localPort !== port || f[3] === '0A') continue; // 0A: the listening socket
    queued += Number.parseInt(f[4]!.split(':')[0]!, 16);
  }
  return queued;
}

describe('a resuming client that stops reading', () => {
  /** 20 channels × 1,000 events × 1 KB: a 20 MB replay from the start. */
  async function bigHistory(options: EventsOptions): Promise<{ fx: Fixture; query: string; from: string }> {
    const fx = await setup({ history: new MemoryStore({ maxEventsPerChannel: 1000 }), ...options });
    const channels = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const query = channels.map((c) => `channel=${c}`).join('&');
    const first = await connect(fx.server.url(`/?${query}`));
    await first.waitFor((x) => x.events.length === 1, 5000, 'stream-open');
    first.close();
    const from = first.events[0]!.id!;
    await until(() => fx.ev.stats().connections === 0, 5000, 'the first client gone');
    const data = 'x'.repeat(1000);
    for (let n = 0; n < 1000; n++) {
      await Promise.all(channels.map((c) => fx.ev.publish(c, { data, raw: true })));
    }
    fx.disconnects.length = 0;
    return { fx, query, from };
  }

  it('holds about the buffer bound on the server, not its replay', async () => {
    const { fx, query, from } = await bigHistory({ maxBufferBytes: 256 * 1024 });
    const gc = obtainGc();
    const before = liveBytes(gc);
    const resumers = 3;
    for (let i = 0; i < resumers; i++) rawClient(fx.server.port, get(`/?${query}&tag=r${i}`, from));
    await until(() => fx.ev.stats().eventsReplayed === resumers * 20_000, 10_000, 'every replay planned');
    // Wait until the replays stall: nothing more is written while the clients do not read.
    let delivered = -1;
    await until(
      () => {
        const now = fx.ev.stats().bytesDelivered;
        const still = now === delivered;
        delivered = now;
        return still;
      },
      20_000,
      'the replays to stall',
    );
    const perResumer = (liveBytes(gc) - before) / resumers;
    // Before paging, each held its whole replay twice (text and bytes): about 40 MB.
    expect(perResumer).toBeLessThan(8 * 1024 * 1024);
    expect(fx.ev.stats().connections).toBe(resumers);
    for (let i = 0; i < resumers; i++) {
      expect(fx.sockets.get(`r${i}`)!.writableLength).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);
    }
  }, 60_000);

  it('is dropped as slow when it has not taken its replay within replayTimeoutMs', async () => {
    const { fx, query, from } = await bigHistory({ replayTimeoutMs: 1000 });
    rawClient(fx.server.port, get(`/?${query}&tag=stuck`, from));
    await until(() => fx.disconnects.length === 1, 10_000, 'the stuck resumer dropped');
    expect(fx.disconnects).toEqual([{ channels: expect.any(Array), reason: 'slow' }]);
    expect(fx.ev.stats().slowClientsDropped).toBe(1);
    expect(fx.ev.stats().connections).toBe(0);
    expect(fx.sockets.get('stuck')!.destroyed).toBe(true);
    await until(() => serverQueued(fx.server.port) === 0, 5000, 'nothing queued on the server side');
  }, 60_000);

  it('a replay of many pages arrives whole and in order, announced by stream-open', async () => {
    const fx = await setup({ maxBufferBytes: 16 * 1024 });
    const first = await connect(fx.server.url('/?channel=a&channel=b&channel=c'));
    cleanups.push(() => first.close());
    await first.waitFor((x) => x.events.length === 1, 5000, 'stream-open');
    const from = first.events[0]!.id!;
    first.close();
    for (let n = 0; n < 900; n++) await fx.ev.publish('abc'[n % 3]!, { event: 'n', data: n });
    const second = await connect(fx.server.url('/?channel=a&channel=b&channel=c'), {
      accept: 'text/event-stream',
      'last-event-id': from,
    });
    cleanups.push(() => second.close());
    await second.waitFor((x) => x.named('n').length === 900, 10_000, 'the whole replay');
    expect(second.events[0]).toEqual({ event: 'stream-open', data: '{"replayed":900}', id: undefined });
    expect(second.named('n').map((e) => Number(e.data))).toEqual(Array.from({ length: 900 }, (_, n) => n));
    await fx.ev.publish('b', { event: 'n', data: 900 });
    await second.waitFor((x) => x.named('n').length === 901, 5000, 'a live event after the replay');
  });
});

describe('MemoryStore.readAfter with a limit', () => {
  it('returns the lowest seqs across channels, so callers page by reading after the last one', async () => {
    const store = new MemoryStore();
    await store.append(Array.from({ length: 30 }, (_, i) => ({ channel: 'xyz'[i % 3]!, body: `${i}\n\n` })));
    const epoch = await store.epoch();
    const seqs: number[] = [];
    let after = 0;
    for (;;) {
      const page = await store.readAfter(['x', 'z'], after, 4);
      expect(page.epoch).toBe(epoch);
      expect(page.head).toBe(30);
      expect(page.records.length).toBeLessThanOrEqual(4);
      seqs.push(...page.records.map((r) => r.seq));
      if (page.records.length < 4) break;
      after = page.records.at(-1)!.seq;
    }
    const all = (await store.readAfter(['x', 'z'], 0)).records.map((r) => r.seq);
    expect(all).toHaveLength(20);
    expect(seqs).toEqual(all);
  });
});
