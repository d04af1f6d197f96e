// GRIP through the Fetch handler behind a REAL Pushpin (installed on demand, never skipped): the
// origin is `fetchHandler()` served by @hono/node-server (a real node:http → Request bridge). Hold
// and publish, Grip-Sig verified with jose, a proxied resume in the hold body, and reliable-mode
// recovery (the `recover` verdict) answered as Fetch Responses.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGripSink, resolveGrip } from '../../src/grip/index.js';
import { type EncodedEvent, type Events, type EventsOptions, events, fetchHandler } from '../../src/index.js';
import { ensurePushpin, freePorts, type PushpinInstance, startPushpin } from '../helpers/pushpin.js';
import { connect, request, type SseClient } from '../helpers/sse-client.js';

const SECRET = 'test-recovery-secret-0123456789';
const cleanups: Array<() => Promise<void> | void> = [];
const pushpins: PushpinInstance[] = [];
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') for (const pp of pushpins) console.error(pp.tailLogs());
  pushpins.length = 0;
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
beforeAll(async () => {
  await ensurePushpin();
});

interface Origin {
  ev: Events;
  port: number;
  url(path: string): string;
}

/** events(options) behind fetchHandler on @hono/node-server, on a free 127.0.0.1 port. */
async function fetchOrigin(options: EventsOptions, grip?: string): Promise<Origin> {
  const ev = events({ keepAlive: false, ...options });
  const handler = fetchHandler({ events: ev, ...(grip !== undefined && { grip }) });
  const server = await new Promise<Server>((resolve) => {
    const s = serve(
      {
        fetch: (req: Request) =>
          new URL(req.url).pathname === '/events' ? handler(req) : new Response('no', { status: 404 }),
        port: 0,
        hostname: '127.0.0.1',
      },
      () => resolve(s as Server),
    );
  });
  const { port } = server.address() as AddressInfo;
  cleanups.push(async () => {
    await ev.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { ev, port, url: (path) => `http://127.0.0.1:${port}${path}` };
}

async function pushpin(options: Parameters<typeof startPushpin>[0]): Promise<PushpinInstance> {
  const pp = await startPushpin({ readyPath: '/events?channel=pushpin-ready', ...options });
  pushpins.push(pp);
  cleanups.push(() => pp.stop());
  return pp;
}

async function sse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const c = await connect(url, { accept: 'text/event-stream', ...headers });
  cleanups.push(() => c.close());
  return c;
}

const numbers = (c: SseClient) => c.named('n').map((e) => JSON.parse(e.data) as number);

describe('fetchHandler through a real Pushpin', () => {
  it('holds the proxied client (no stream at the origin), publishes to it, and serves a direct client too', async () => {
    const [httpPort, publishPort] = await freePorts(2);
    const origin = await fetchOrigin({ grip: `http://127.0.0.1:${publishPort}?key=changeme` });
    const pp = await pushpin({ originPort: origin.port, httpPort, publishPort });
    const proxied = await sse(`${pp.baseUrl}/events?channel=a&channel=b`);
    expect(proxied.status).toBe(200);
    expect(Object.keys(proxied.headers).filter((h) => h.startsWith('grip-'))).toEqual([]);
    await proxied.waitFor((c) => c.named('stream-open').length === 1, 5000, 'stream-open');
    await pp.waitForSubscription('events-a');
    await pp.waitForSubscription('events-b');
    expect(origin.ev.stats().connections).toBe(0);
    const direct = await sse(origin.url('/events?channel=a'));
    await direct.waitFor((c) => c.named('stream-open').length === 1, 5000, 'direct stream-open');
    expect(origin.ev.stats().connections).toBe(1);

    await origin.ev.publish('a', { event: 'n', data: 1 });
    await origin.ev.publish('c', { event: 'n', data: 2 });
    await origin.ev.publish('b', { event: 'n', data: 3 });
    await origin.ev.publish('a', { event: 'done', data: 0 });
    await proxied.waitFor((c) => c.named('done').length === 1, 5000, 'the proxied events');
    await direct.waitFor((c) => c.named('done').length === 1, 5000, 'the direct events');
    expect(numbers(proxied)).toEqual([1, 3]);
    expect(numbers(direct)).toEqual([1]);
    // One history: the proxy's copy carries the ids the direct stream has.
    expect(proxied.named('n')[0]?.id).toBe(direct.named('n')[0]?.id);
  });

  it('verifies Grip-Sig: a proxy signing with another key gets 403 for its clients', async () => {
    const [httpPort, publishPort] = await freePorts(2);
    const origin = await fetchOrigin({ grip: `http://127.0.0.1:${publishPort}?key=changeme` });
    await pushpin({
      originPort: origin.port,
      httpPort,
      publishPort,
      sigKey: 'not-the-app-key',
      readyPath: '/nothing-here',
    });
    const res = await request(`http://127.0.0.1:${httpPort}/events?channel=x`, {
      headers: { accept: 'text/event-stream' },
    });
    expect(res.status).toBe(403);
    expect(res.body).toContain('signature does not verify');
  });

  it('a proxied reconnect with Last-Event-ID gets the missed events in the hold body, then live ones', async () => {
    const [httpPort, publishPort] = await freePorts(2);
    const origin = await fetchOrigin({ grip: `http://127.0.0.1:${publishPort}?key=changeme` });
    const pp = await pushpin({ originPort: origin.port, httpPort, publishPort });
    const first = await sse(`${pp.baseUrl}/events?channel=h`);
    await pp.waitForSubscription('events-h');
    for (const n of [1, 2]) await origin.ev.publish('h', { event: 'n', data: n });
    await first.waitFor((c) => numbers(c).length === 2, 5000, 'two live events');
    const position = first.named('n')[1]!.id!;
    first.close();
    for (const n of [3, 4]) await origin.ev.publish('h', { event: 'n', data: n });
    const second = await sse(`${pp.baseUrl}/events?channel=h`, { 'last-event-id': position });
    await second.waitFor((c) => numbers(c).length === 2, 5000, 'the replay');
    await pp.waitForSubscription('events-h', 2);
    await origin.ev.publish('h', { event: 'n', data: 5 });
    await second.waitFor((c) => numbers(c).length === 3, 5000, 'a live event');
    expect(numbers(second)).toEqual([3, 4, 5]);
  });

  it('reliable mode: an event the proxy never got is recovered through the origin, once and in order', async () => {
    // Verifying Grip-Sig needs only the key; publishing goes through a sink that can withhold.
    const origin = await fetchOrigin(
      { history: { maxEventsPerChannel: 1000 }, reliable: { secret: SECRET, linkTimeoutSec: 60 } },
      'http://127.0.0.1:5561?key=changeme',
    );
    const pp = await pushpin({ originPort: origin.port });
    const sink = createGripSink(resolveGrip(pp.gripUrl)!, { prefix: origin.ev.prefix, reliable: true });
    const withheld = new Set([3]);
    origin.ev.addSink({
      publish: (batch: readonly EncodedEvent[]) =>
        sink.publish(batch.filter((e) => !withheld.has(Number(/^data: (.*)$/m.exec(e.text)?.[1])))),
      close: () => sink.close?.(),
    });
    const c = await sse(`${pp.baseUrl}/events?channel=r`);
    await pp.waitForSubscription('events-r');
    for (let i = 1; i <= 5; i++) await origin.ev.publish('r', { event: 'n', data: i });
    // Pushpin holds the event after the gap up to message_wait (5 s) before it recovers through
    // the origin: 20 s leave room for that on a loaded machine (a CI run under load missed 10 s).
    await c.waitFor((x) => numbers(x).length >= 5, 20_000, 'all five events');
    await origin.ev.publish('r', { event: 'n', data: 6 });
    await c.waitFor((x) => numbers(x).includes(6), 15_000, 'a later event');
    expect(numbers(c)).toEqual([1, 2, 3, 4, 5, 6]);
    // Event 3 came through the recovery link that the Fetch handler answered.
    await pp.waitForLog(/GET \S+[?&]es-recover=\S+ .* code=200 /);
  }, 60_000);
});
