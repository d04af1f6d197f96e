// History through a REAL Pushpin: resuming a proxied reconnect, reliable mode recovering an event
// the proxy never received (gap and idle), and the chaos run through the proxy.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGripSink, resolveGrip } from '../../src/grip/index.js';
import {
  createHandler,
  type EncodedEvent,
  type EventStreamHandler,
  type Events,
  events,
} from '../../src/index.js';
import { chaosClient } from '../helpers/chaos-client.js';
import { ensurePushpin, type PushpinInstance, startPushpin } from '../helpers/pushpin.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type SseClient, until } from '../helpers/sse-client.js';

type Handler = EventStreamHandler;
const SECRET = 'test-recovery-secret-0123456789';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
beforeAll(async () => {
  await ensurePushpin();
});

interface Setup {
  ev: Events;
  pp: PushpinInstance;
  origin: TestServer;
  /** Events whose data is in here are not sent to the proxy (but are stored and delivered locally). */
  withheld: Set<number>;
}

/**
 * An origin behind a real Pushpin whose GRIP sink is wrapped so a test can withhold chosen
 * events from the proxy, as if a publish had been lost.
 */
async function setup(options: { reliable: boolean; linkTimeoutSec?: number }): Promise<Setup> {
  const ev = events({
    keepAlive: false,
    history: { maxEventsPerChannel: 10_000 },
    ...(options.reliable && { reliable: { secret: SECRET, linkTimeoutSec: options.linkTimeoutSec ?? 60 } }),
  });
  // Verifying Grip-Sig needs only the key (Pushpin's default), not the publish port.
  const handler: Handler = createHandler({ events: ev, grip: 'http://127.0.0.1:5561?key=changeme' });
  const origin = await startServer((req, res) => handler(req, res));
  const pp = await startPushpin({ originPort: origin.port, readyPath: '/events?channel=ready' });
  const grip = resolveGrip(pp.gripUrl)!;
  const sink = createGripSink(grip, { prefix: ev.prefix, reliable: options.reliable });
  const withheld = new Set<number>();
  ev.addSink({
    publish: (batch: readonly EncodedEvent[]) =>
      sink.publish(batch.filter((e) => !withheld.has(Number(/^data: (.*)$/m.exec(e.text)?.[1])))),
    close: () => sink.close?.(),
  });
  cleanups.push(async () => {
    await ev.close();
    await pp.stop();
    await origin.close();
  });
  return { ev, pp, origin, withheld };
}

async function viaProxy(
  pp: PushpinInstance,
  path: string,
  headers: Record<string, string> = {},
): Promise<SseClient> {
  const c = await connect(`${pp.baseUrl}${path}`, { accept: 'text/event-stream', ...headers });
  cleanups.push(() => c.close());
  return c;
}

/**
 * A line of Pushpin's handler log for a recovery-link fetch that the origin answered with 200,
 * made from position `lastId` of `channel` (the handler ends the line with `#<channel>=<last id>`).
 */
function recoveryFetch(channel: string, lastId: string): RegExp {
  const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(
    `GET \\S+[?&]es-recover=\\S+ .* code=200 .*#${literal(channel)}=${literal(lastId)}$`,
    'm',
  );
}

const numbers = (c: SseClient) => c.named('n').map((e) => JSON.parse(e.data) as number);

describe('through a real Pushpin', () => {
  it('a proxied reconnect with Last-Event-ID gets the missed events in the hold body, then live ones', async () => {
    const { ev, pp } = await setup({ reliable: false });
    const first = await viaProxy(pp, '/events?channel=h');
    await pp.waitForSubscription('events-h');
    for (let i = 1; i <= 2; i++) await ev.publish('h', { event: 'n', data: i });
    await first.waitFor((c) => numbers(c).length === 2, 5000, 'two live events');
    const position = first.named('n')[1]!.id!;
    first.close();
    for (let i = 3; i <= 4; i++) await ev.publish('h', { event: 'n', data: i });
    const second = await viaProxy(pp, '/events?channel=h', { 'last-event-id': position });
    await second.waitFor((c) => numbers(c).length === 2, 5000, 'replayed events');
    await pp.waitForSubscription('events-h', 2);
    await ev.publish('h', { event: 'n', data: 5 });
    await second.waitFor((c) => numbers(c).length === 3, 5000, 'live event');
    expect(numbers(second)).toEqual([3, 4, 5]);
    expect(second.named('n').map((e) => e.id)).toEqual(
      [3, 4, 5].map((n) => `${position.split('-')[0]}-${n}`),
    );
  });

  it('reliable mode: an event the proxy never got is recovered, once and in order (gap)', async () => {
    const { ev, pp, withheld } = await setup({ reliable: true });
    const c = await viaProxy(pp, '/events?channel=r');
    await pp.waitForSubscription('events-r');
    withheld.add(3);
    for (let i = 1; i <= 5; i++) await ev.publish('r', { event: 'n', data: i });
    // Pushpin holds the event after the gap up to message_wait (5 s) before it recovers through
    // the origin: 20 s leave room for that on a loaded machine (a CI run under load missed 10 s).
    await c.waitFor((x) => numbers(x).length >= 5, 20_000, 'all five events');
    await ev.publish('r', { event: 'n', data: 6 });
    await c.waitFor((x) => numbers(x).includes(6), 15_000, 'a later event');
    expect(numbers(c)).toEqual([1, 2, 3, 4, 5, 6]);
    // Event 3 came through the recovery link, not some other way: Pushpin fetched the link from
    // event 2's position and the origin answered.
    await pp.waitForLog(recoveryFetch('events-r', c.named('n')[1]!.id!));
  }, 60_000);

  it('reliable mode: a withheld last event arrives through the idle recovery poll', async () => {
    const { ev, pp, withheld } = await setup({ reliable: true, linkTimeoutSec: 1 });
    const c = await viaProxy(pp, '/events?channel=idle');
    await pp.waitForSubscription('events-idle');
    withheld.add(2);
    for (let i = 1; i <= 2; i++) await ev.publish('idle', { event: 'n', data: i });
    await c.waitFor((x) => numbers(x).length === 2, 10_000, 'the withheld event via idle recovery');
    expect(numbers(c)).toEqual([1, 2]);
    await pp.waitForLog(recoveryFetch('events-idle', c.named('n')[0]!.id!));
  });

  it('chaos: clients cut 100+ times each still receive exactly the published sequence', async () => {
    const { ev, pp } = await setup({ reliable: true, linkTimeoutSec: 1 });
    const total = 5000;
    const clientCount = 3;
    const runs = Array.from({ length: clientCount }, () =>
      chaosClient(`${pp.baseUrl}/events?channel=chaos`, total, 80),
    );
    await until(() => runs.every((r) => r.connected), 10_000, 'clients connected');
    await pp.waitForSubscription('events-chaos', clientCount);
    // Pushpin's default message_rate is 2,500 items/s: publish well below it.
    const publishes: Promise<void>[] = [];
    for (let i = 1; i <= total; i++) {
      publishes.push(ev.publish('chaos', { event: 'n', data: i }));
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    // Every publish settles, and succeeds, before the test closes the sink under them.
    await Promise.all(publishes);
    await Promise.all(runs.map((r) => r.done));
    const expected = Array.from({ length: total }, (_, i) => i + 1);
    runs.forEach((run, i) => {
      expect(run.received, `client ${i}`).toEqual(expected);
      expect(run.cuts, `client ${i} reconnects`).toBeGreaterThanOrEqual(100);
    });
  }, 150_000);
});
