// Diagnostics channels (issue 14): every channel fires with its documented shape in real
// situations: a real server, real clients, a real Pushpin for GRIP. Waits are on conditions.
import diagnosticsChannel from 'node:diagnostics_channel';
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore } from '../src/engine/store.js';
import { MemoryStore } from '../src/history/memory-store.js';
import {
  events as createEvents,
  createHandler,
  DIAGNOSTICS_CHANNELS,
  type DiagnosticsMessages,
  type Events,
  type EventsOptions,
  GripPublishError,
  InvalidOptionError,
  onDiagnostics,
} from '../src/index.js';
import { ensurePushpin, freePorts, type PushpinInstance, startPushpin } from './helpers/pushpin.js';
import { startServer, type TestServer } from './helpers/server.js';
import { connect, request, type SseClient, until } from './helpers/sse-client.js';

type Key = keyof DiagnosticsMessages;
type Seen = { [K in Key]: DiagnosticsMessages[K][] };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Record every message of every channel whose source is `ev`. */
function record(ev: Events): Seen {
  const seen = {} as Record<Key, unknown[]>;
  for (const key of Object.keys(DIAGNOSTICS_CHANNELS) as Key[]) {
    seen[key] = [];
    cleanups.push(
      onDiagnostics(key, (m) => {
        if (m.source === ev) seen[key].push(m);
      }),
    );
  }
  return seen as Seen;
}

async function app(options: EventsOptions): Promise<{ ev: Events; server: TestServer }> {
  const ev = createEvents(options);
  const handler = createHandler({ events: ev });
  const server = await startServer((req, res) => handler(req, res));
  cleanups.push(async () => {
    await ev.close();
    await server.close();
  });
  return { ev, server };
}

function track(client: SseClient): SseClient {
  cleanups.push(() => client.close());
  return client;
}

const keys = (m: object): string[] => Object.keys(m).sort();
/** The documented fields of a message, sorted, plus the two every message has. */
const shape = (...fields: string[]): string[] => [...fields, 'namespace', 'source'].sort();

describe('diagnostics channels', () => {
  it('exports one name per channel, all under express-eventstream:', () => {
    expect(Object.values(DIAGNOSTICS_CHANNELS).sort()).toEqual(
      [
        'connect',
        'deliver',
        'disconnect',
        'grip:attempt',
        'grip:failure',
        'grip:retry',
        'grip:sig-rejected',
        'publish',
        'refuse',
        'replay',
        'reset',
        'slow-drop',
        'store-error',
      ].map((n) => `express-eventstream:${n}`),
    );
    expect(() => onDiagnostics('nope' as Key, () => {})).toThrow(InvalidOptionError);
  });

  it('nobody subscribed: no channel has subscribers, and publishing still works', async () => {
    const { ev, server } = await app({ keepAlive: false });
    for (const name of Object.values(DIAGNOSTICS_CHANNELS)) {
      expect(diagnosticsChannel.channel(name).hasSubscribers, name).toBe(false);
    }
    const c = track(await connect(server.url('/?channel=q')));
    await ev.publish('q', { data: 1 });
    await c.waitFor((x) => x.named('message').length === 1, 5000, 'event');
  });

  it('connect, publish, deliver and disconnect (client, server) with their shapes', async () => {
    const { ev, server } = await app({ name: 'diag-a', keepAlive: false, history: false });
    const seen = record(ev);
    const c1 = track(await connect(server.url('/?channel=a')));
    const c2 = track(await connect(server.url('/?channel=a&channel=b')));
    await until(() => seen.connect.length === 2, 5000, 'two connects');
    expect(keys(seen.connect[0]!)).toEqual(shape('channels', 'connectionId', 'remoteAddress'));
    expect(seen.connect.map((m) => m.channels)).toEqual([['a'], ['a', 'b']]);
    expect(seen.connect[0]!.remoteAddress).toBe('127.0.0.1');
    expect(seen.connect[1]!.connectionId).toBeGreaterThan(seen.connect[0]!.connectionId);
    expect(seen.connect[0]!.namespace).toBe('diag-a');

    // One tick: three events in one batch.
    await Promise.all([
      ev.publish('a', { event: 'x', data: 1 }),
      ev.publish('b', { event: 'y', data: 2 }),
      ev.publish('a', { event: 'z', data: 3 }),
    ]);
    expect(seen.publish).toHaveLength(1);
    const pub = seen.publish[0]!;
    expect(keys(pub)).toEqual(shape('batch'));
    expect(pub.batch.map((e) => [e.channel, e.event])).toEqual([
      ['a', 'x'],
      ['b', 'y'],
      ['a', 'z'],
    ]);
    expect(seen.deliver).toHaveLength(1);
    const del = seen.deliver[0]!;
    expect(keys(del)).toEqual(shape('bytes', 'deliveries', 'durationMs', 'events'));
    const size = pub.batch.map((e) => e.bytes.length);
    expect(del.events).toBe(3);
    expect(del.deliveries).toBe(5); // c1 gets a, a; c2 gets all three
    expect(del.bytes).toBe(size[0]! + size[2]! + (size[0]! + size[1]! + size[2]!));
    expect(del.durationMs).toBeGreaterThanOrEqual(0);
    await c1.waitFor((x) => x.events.length === 3, 5000, 'c1 events'); // stream-open + 2
    await c2.waitFor((x) => x.events.length === 4, 5000, 'c2 events');

    c1.close();
    await until(() => seen.disconnect.length === 1, 5000, 'client disconnect');
    expect(keys(seen.disconnect[0]!)).toEqual(
      shape('channels', 'connectionId', 'durationMs', 'reason', 'remoteAddress'),
    );
    expect(seen.disconnect[0]).toMatchObject({
      channels: ['a'],
      reason: 'client',
      connectionId: seen.connect[0]!.connectionId,
      remoteAddress: '127.0.0.1',
    });
    expect(seen.disconnect[0]!.durationMs).toBeGreaterThanOrEqual(0);
    await ev.close();
    expect(seen.disconnect[1]).toMatchObject({ channels: ['a', 'b'], reason: 'server' });
  });

  it('replay and reset: a client resuming from an id, and one with an id the history cannot place', async () => {
    const { ev, server } = await app({
      name: 'diag-r',
      keepAlive: false,
      history: { maxEventsPerChannel: 3 },
    });
    const seen = record(ev);
    for (let i = 1; i <= 5; i++) await ev.publish('r', { data: i });
    const ids = seen.publish.map((m) => m.batch[0]!.id!);

    const resumed = track(
      await connect(server.url('/?channel=r'), { accept: 'text/event-stream', 'last-event-id': ids[2]! }),
    );
    await resumed.waitFor((x) => x.named('message').length === 2, 5000, 'replay of 2');
    expect(seen.replay).toHaveLength(1);
    expect(keys(seen.replay[0]!)).toEqual(shape('channels', 'events', 'lastEventId', 'reset', 'via'));
    expect(seen.replay[0]).toMatchObject({
      channels: ['r'],
      lastEventId: ids[2],
      events: 2,
      via: 'stream',
      reset: false,
    });
    expect(seen.reset).toHaveLength(0);

    // The first id left the history (3 kept per channel): a reset with reason expired.
    const expired = track(
      await connect(server.url('/?channel=r'), { accept: 'text/event-stream', 'last-event-id': ids[0]! }),
    );
    await expired.waitFor((x) => x.named('stream-reset').length === 1, 5000, 'reset');
    expect(seen.reset).toHaveLength(1);
    expect(keys(seen.reset[0]!)).toEqual(shape('channels', 'reason', 'via'));
    expect(seen.reset[0]).toMatchObject({ channels: ['r'], reason: 'expired', via: 'stream' });

    const garbled = track(
      await connect(server.url('/?channel=r'), { accept: 'text/event-stream', 'last-event-id': 'garbled' }),
    );
    await garbled.waitFor((x) => x.named('stream-reset').length === 1, 5000, 'reset');
    expect(seen.reset[1]).toMatchObject({ channels: ['r'], reason: 'malformed-id', via: 'stream' });
    // The resume answered with a reset says so: nothing replayed because of the reset.
    expect(seen.replay[2]).toMatchObject({ lastEventId: 'garbled', events: 0, reset: true });
    // A fresh connection (no Last-Event-ID) is no replay.
    track(await connect(server.url('/?channel=r')));
    await until(() => seen.connect.length === 4, 5000, 'fourth connect');
    expect(seen.replay).toHaveLength(3);
  });

  it('refuse: a refused request with its status, reason, method, peer, and path without the query', async () => {
    const { ev, server } = await app({ name: 'diag-x', keepAlive: false, history: false });
    const seen = record(ev);
    const res = await fetch(server.url('/events/?channel=a&token=secret'), { method: 'POST' });
    expect(res.status).toBe(405);
    await until(() => seen.refuse.length === 1, 5000, 'refuse');
    expect(keys(seen.refuse[0]!)).toEqual(shape('method', 'path', 'reason', 'remoteAddress', 'status'));
    expect(seen.refuse[0]).toMatchObject({
      status: 405,
      method: 'POST',
      path: '/events/',
      remoteAddress: '127.0.0.1',
      reason: 'Method Not Allowed: POST; this endpoint serves GET',
    });
  });

  it('slow-drop: a client that stops reading is dropped, with its backlog and the bound', async () => {
    const maxBufferBytes = 64 * 1024;
    const { ev, server } = await app({ name: 'diag-s', keepAlive: false, history: false, maxBufferBytes });
    const seen = record(ev);
    // A client that never reads: the kernel buffers fill, then the server's.
    const socket = net.connect(server.port, '127.0.0.1');
    socket.on('error', () => {});
    cleanups.push(() => {
      socket.destroy();
    });
    socket.write('GET /?channel=s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
    socket.pause();
    await until(() => seen.connect.length === 1, 5000, 'slow client connected');
    const payload = 'x'.repeat(16 * 1024);
    for (let i = 0; seen.slowDrop.length === 0; i++) {
      if (i > 4096) throw new Error('the slow client was never dropped');
      await ev.publish('s', { data: payload, raw: true });
    }
    expect(seen.slowDrop).toHaveLength(1);
    const drop = seen.slowDrop[0]!;
    expect(keys(drop)).toEqual(shape('bufferedBytes', 'channels', 'maxBufferBytes'));
    expect(drop.channels).toEqual(['s']);
    expect(drop.maxBufferBytes).toBe(maxBufferBytes);
    expect(drop.bufferedBytes).toBeGreaterThan(maxBufferBytes);
    expect(seen.disconnect.map((m) => m.reason)).toEqual(['slow']);
  });

  it('store-error: a failing append (publish rejects) and a failing read (resume)', async () => {
    const inner = new MemoryStore();
    let failAppend = false;
    let failRead = false;
    const store: EventStore = {
      epoch: () => inner.epoch(),
      append: (items) => (failAppend ? Promise.reject(new Error('disk full')) : inner.append(items)),
      readAfter: (channels, after) =>
        failRead ? Promise.reject(new Error('read timeout')) : inner.readAfter(channels, after),
    } as EventStore;
    const { ev, server } = await app({ name: 'diag-e', keepAlive: false, history: store });
    ev.on('error', () => {});
    const seen = record(ev);
    failAppend = true;
    await expect(ev.publish('e', { data: 1 })).rejects.toThrow(/disk full/);
    expect(seen.storeError).toHaveLength(1);
    expect(keys(seen.storeError[0]!)).toEqual(shape('error', 'operation'));
    expect(seen.storeError[0]!.operation).toBe('append');
    expect(seen.storeError[0]!.error).toMatchObject({ code: 'ERR_SSE_STORE' });
    failRead = true;
    const c = track(await connect(server.url('/?channel=e')));
    await c.waitFor((x) => x.ended, 5000, 'stream cut off');
    expect(seen.storeError[1]).toMatchObject({ operation: 'read' });
    expect((seen.storeError[1]!.error as Error).message).toMatch(/read timeout/);
  });
});

describe('diagnostics channels through a real Pushpin', () => {
  const pushpins: PushpinInstance[] = [];
  beforeAll(async () => {
    await ensurePushpin();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') for (const pp of pushpins) console.error(pp.tailLogs());
    pushpins.length = 0;
  });
  async function pushpin(options: Parameters<typeof startPushpin>[0]): Promise<PushpinInstance> {
    const pp = await startPushpin(options);
    pushpins.push(pp);
    cleanups.push(() => pp.stop());
    return pp;
  }

  it('grip:attempt on every publish request, replay via grip-hold; proxy down: retries, failure, one warning', async () => {
    const [httpPort, publishPort] = await freePorts(2);
    const { ev, server } = await app({
      name: 'diag-g',
      grip: `http://127.0.0.1:${publishPort}?key=changeme`,
      gripRetry: { retries: 2, minDelayMs: 10, maxDelayMs: 20, timeoutMs: 5000 },
    });
    const seen = record(ev);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    cleanups.push(() => {
      process.off('warning', onWarning);
    });
    const pp = await pushpin({
      originPort: server.port,
      httpPort,
      publishPort,
      readyPath: '/?channel=ready',
    });

    await ev.publish('g', { data: 'before' });
    const firstId = seen.publish.at(-1)!.batch[0]!.id!;
    const attemptsBefore = seen.gripAttempt.length;
    const client = track(
      await connect(`${pp.baseUrl}/?channel=g`, { accept: 'text/event-stream', 'last-event-id': firstId }),
    );
    await client.waitFor((x) => x.named('stream-open').length === 1, 10_000, 'stream-open via Pushpin');
    await pp.waitForSubscription('events-g');
    expect(seen.replay.at(-1)).toMatchObject({
      channels: ['g'],
      lastEventId: firstId,
      events: 0,
      via: 'grip-hold',
    });

    await Promise.all([ev.publish('g', { data: 'one' }), ev.publish('g', { data: 'two' })]);
    await client.waitFor((x) => x.named('message').length === 2, 10_000, 'two events via Pushpin');
    const ok = seen.gripAttempt.at(-1)!;
    expect(seen.gripAttempt.length).toBe(attemptsBefore + 1);
    expect(keys(ok)).toEqual(shape('attempt', 'bytes', 'durationMs', 'items', 'outcome', 'proxy'));
    expect(ok).toMatchObject({
      proxy: `http://127.0.0.1:${publishPort}/publish/`,
      attempt: 1,
      items: 2,
      outcome: 'ok',
    });
    expect(ok.bytes).toBeGreaterThan(0);
    expect(ok.durationMs).toBeGreaterThanOrEqual(0);

    // The proxy goes away: every attempt is a connection error, then the publish gives up.
    await pp.pause();
    await expect(ev.publish('g', { data: 'lost' })).rejects.toBeInstanceOf(GripPublishError);
    const failed = seen.gripAttempt.slice(-3);
    expect(failed.map((m) => [m.attempt, m.outcome])).toEqual([
      [1, 'network-error'],
      [2, 'network-error'],
      [3, 'network-error'],
    ]);
    expect(failed[0]!.detail).toMatch(/ECONNREFUSED/);
    expect(seen.gripRetry).toHaveLength(2);
    expect(keys(seen.gripRetry[0]!)).toEqual(shape('attempt', 'delayMs', 'detail', 'proxy'));
    expect(seen.gripRetry.map((m) => m.attempt)).toEqual([1, 2]);
    expect(seen.gripFailure).toHaveLength(1);
    expect(keys(seen.gripFailure[0]!)).toEqual(shape('attempts', 'error', 'outcome', 'proxy'));
    expect(seen.gripFailure[0]).toMatchObject({ attempts: 3, outcome: 'network-error' });
    expect(seen.gripFailure[0]!.error).toBeInstanceOf(GripPublishError);
    // A second failed publish: still one warning for this Events object.
    await expect(ev.publish('g', { data: 'lost again' })).rejects.toBeInstanceOf(GripPublishError);
    await until(() => warnings.length >= 1, 5000, 'the unreachable-proxy warning');
    const ours = warnings.filter(
      (w) => (w as { code?: string }).code === 'EXPRESS_EVENTSTREAM_GRIP_UNREACHABLE',
    );
    expect(ours).toHaveLength(1);
    expect(ours[0]!.message).toContain(`http://127.0.0.1:${publishPort}/publish/`);
  });

  it('grip:sig-rejected when the proxy signs with another key; the warning comes once', async () => {
    const [httpPort, publishPort] = await freePorts(2);
    const { ev, server } = await app({ name: 'diag-k', grip: `http://127.0.0.1:${publishPort}?key=app-key` });
    const seen = record(ev);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    cleanups.push(() => {
      process.off('warning', onWarning);
    });
    const pp = await pushpin({
      originPort: server.port,
      httpPort,
      publishPort,
      sigKey: 'proxy-key',
      readyPath: '/nothing-here',
    });
    for (let i = 0; i < 2; i++) {
      const res = await request(`${pp.baseUrl}/?channel=k`, { headers: { accept: 'text/event-stream' } });
      expect(res.status).toBe(403);
    }
    await until(() => seen.gripSigRejected.length >= 2, 5000, 'two rejections');
    expect(keys(seen.gripSigRejected[0]!)).toEqual(shape('keyMismatch', 'reason'));
    expect(seen.gripSigRejected[0]).toMatchObject({
      reason: 'invalid Grip-Sig: signature does not verify',
      keyMismatch: true,
    });
    // A malformed token is a rejection too, but says nothing about keys.
    const before = seen.gripSigRejected.length;
    await request(server.url('/?channel=k'), {
      headers: { accept: 'text/event-stream', 'grip-sig': 'junk' },
    });
    await until(() => seen.gripSigRejected.length === before + 1, 5000, 'one more rejection');
    expect(seen.gripSigRejected.at(-1)).toMatchObject({
      reason: 'invalid Grip-Sig: malformed token',
      keyMismatch: false,
    });
    await until(() => warnings.length >= 1, 5000, 'the key warning');
    const ours = warnings.filter((w) => (w as { code?: string }).code === 'EXPRESS_EVENTSTREAM_GRIP_SIG_KEY');
    expect(ours).toHaveLength(1);
    expect(ours[0]!.message).toMatch(/Grip-Sig rejected/);
  });
});
