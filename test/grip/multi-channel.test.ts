// A stream on several channels through a REAL Pushpin in reliable mode. Pushpin delivers per
// channel, so an event on `b` can reach the client while an earlier one on `a` is missing; the
// client's Last-Event-ID must still bring it back, once, and repeat nothing.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGripSink, resolveGrip } from '../../src/grip/index.js';
import { createHandler, type EncodedEvent, type Events, events } from '../../src/index.js';
import { ensurePushpin, type PushpinInstance, startPushpin } from '../helpers/pushpin.js';
import { startServer } from '../helpers/server.js';
import { connect, type SseClient } from '../helpers/sse-client.js';

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

/** One origin (in-memory history, reliable mode) behind Pushpin; events whose data is in `withheld` never reach the proxy. */
async function setup(): Promise<{ ev: Events; pp: PushpinInstance; withheld: Set<number> }> {
  // A long link timeout: no idle recovery poll brings the missing event during the test.
  const ev = events({
    keepAlive: false,
    reliable: { secret: 'multi-channel-secret-0123456789', linkTimeoutSec: 300 },
  });
  const handler = createHandler({ events: ev, grip: 'http://127.0.0.1:5561?key=changeme' });
  const origin = await startServer((req, res) => handler(req, res));
  const pp = await startPushpin({ originPort: origin.port, readyPath: '/events?channel=ready' });
  pushpins.push(pp);
  const sink = createGripSink(resolveGrip(pp.gripUrl)!, { prefix: ev.prefix, reliable: true });
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
  return { ev, pp, withheld };
}

async function viaProxy(pp: PushpinInstance, path: string, headers: Record<string, string> = {}) {
  const c = await connect(`${pp.baseUrl}${path}`, { accept: 'text/event-stream', ...headers });
  cleanups.push(() => c.close());
  return c;
}

const numbers = (c: SseClient) => c.named('n').map((e) => JSON.parse(e.data) as number);

describe('a multi-channel stream through a real Pushpin', () => {
  it('the proxy missed event 1 on a, the client got 2 on b: its reconnect gets 1 once and nothing twice', async () => {
    const { ev, pp, withheld } = await setup();
    const first = await viaProxy(pp, '/events?channel=a&channel=b');
    await pp.waitForSubscription('events-a');
    await pp.waitForSubscription('events-b');
    withheld.add(1);
    await ev.publish('a', { event: 'n', data: 1 });
    await ev.publish('b', { event: 'n', data: 2 });
    await first.waitFor((c) => numbers(c).length === 1, 10_000, 'event 2 on b');
    expect(numbers(first)).toEqual([2]);
    const position = first.named('n')[0]!.id!;
    first.close();

    const second = await viaProxy(pp, '/events?channel=a&channel=b', { 'last-event-id': position });
    await pp.waitForSubscription('events-b', 2);
    await ev.publish('b', { event: 'n', data: 3 });
    await ev.publish('a', { event: 'n', data: 4 });
    await second.waitFor((c) => numbers(c).includes(3) && numbers(c).includes(4), 10_000, 'live events');
    expect(second.named('stream-open')[0]!.data).toBe('{"replayed":1}');
    expect(numbers(second)).toEqual([1, 3, 4]);
    expect(second.named('stream-reset')).toEqual([]);

    // And from the last id of that stream, nothing is missing or repeated either.
    const last = second.named('n').at(-1)!.id!;
    second.close();
    await ev.publish('b', { event: 'n', data: 5 });
    const third = await viaProxy(pp, '/events?channel=b&channel=a', { 'last-event-id': last });
    await third.waitFor((c) => numbers(c).includes(5), 10_000, 'the missed event 5');
    expect(numbers(third)).toEqual([5]);
  });

  it('a single-channel stream keeps plain ids through the build-id filter, and % survives it', async () => {
    const { ev, pp } = await setup();
    const c = await viaProxy(pp, '/events?channel=solo');
    await pp.waitForSubscription('events-solo');
    await ev.publish('solo', { event: 'pct', data: '100% %I %% %(x)s' });
    await c.waitFor((x) => x.named('pct').length === 1, 10_000, 'the event');
    const [event] = c.named('pct');
    expect(event!.data).toBe('"100% %I %% %(x)s"');
    expect(event!.id).toMatch(/^[0-9a-z]+-\d+$/);
  });
});
