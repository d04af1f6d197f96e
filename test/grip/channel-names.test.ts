// Every valid channel name works the same directly and through a REAL Pushpin: non-ASCII names
// and names with characters that mean something in Grip-Channel (`=`, `"`, `\`, `%`) travel
// percent-encoded on the proxy side, and reliable mode recovers them without a reset.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeGripChannelName, gripChannelName } from '../../src/grip/channel.js';
import { createGripSink, resolveGrip } from '../../src/grip/index.js';
import {
  channelNameProblem,
  createHandler,
  type EncodedEvent,
  type Events,
  events,
} from '../../src/index.js';
import { ensurePushpin, type PushpinInstance, startPushpin } from '../helpers/pushpin.js';
import { startServer, type TestServer } from '../helpers/server.js';
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

/** Names and the GRIP channel each must be on the wire (prefix `events-`). */
const NAMES: ReadonlyArray<[name: string, wire: string]> = [
  ['clock', 'events-clock'],
  ['é', 'events-%C3%A9'],
  ['日本', 'events-%E6%97%A5%E6%9C%AC'],
  ['a=b', 'events-a%3Db'],
  ['50%', 'events-50%25'],
  ['say "hi"', 'events-say %22hi%22'],
  ['back\\slash', 'events-back%5Cslash'],
  ['(a)', 'events-(a%29'],
  ['emoji 🎉', 'events-emoji %F0%9F%8E%89'],
];

/**
 * An origin behind a real Pushpin. Its GRIP sink can withhold chosen events from the proxy (by
 * data), as if a publish had been lost, to make Pushpin fetch the recovery link.
 */
async function setup(
  reliable: boolean,
): Promise<{ ev: Events; pp: PushpinInstance; origin: TestServer; withheld: Set<string> }> {
  const ev = events({
    keepAlive: false,
    ...(reliable && { reliable: { secret: 'channel-names-secret-0123456789', linkTimeoutSec: 60 } }),
  });
  const handler = createHandler({ events: ev, grip: 'http://127.0.0.1:5561?key=changeme' });
  const origin = await startServer((req, res) => handler(req, res));
  const pp = await startPushpin({ originPort: origin.port, readyPath: '/events?channel=ready' });
  pushpins.push(pp);
  const sink = createGripSink(resolveGrip(pp.gripUrl)!, { prefix: ev.prefix, reliable });
  const withheld = new Set<string>();
  ev.addSink({
    publish: (batch: readonly EncodedEvent[]) =>
      sink.publish(batch.filter((e) => !withheld.has(/^data: (.*)$/m.exec(e.text)?.[1] ?? ''))),
    close: () => sink.close?.(),
  });
  cleanups.push(async () => {
    await ev.close();
    await pp.stop();
    await origin.close();
  });
  return { ev, pp, origin, withheld };
}

async function sse(url: string): Promise<SseClient> {
  const c = await connect(url, { accept: 'text/event-stream' });
  cleanups.push(() => c.close());
  return c;
}

const query = (names: readonly string[]) => names.map((n) => `channel=${encodeURIComponent(n)}`).join('&');
const tags = (c: SseClient) => c.named('tag').map((e) => JSON.parse(e.data) as string);

describe('channel names through a real Pushpin', { timeout: 60_000 }, () => {
  it('é, 日本, a=b, 50%, quotes, backslash and emoji subscribe and receive exactly their events; ASCII names keep their wire form', async () => {
    const { ev, pp, origin } = await setup(false);
    const clients = new Map<string, SseClient>();
    for (const [name, wire] of NAMES) {
      const c = await sse(`${pp.baseUrl}/events?${query([name])}`);
      expect(c.status, name).toBe(200);
      clients.set(name, c);
      await pp.waitForSubscription(wire);
    }
    // The same names directly: the wire form is only the proxy's business.
    const direct = await sse(origin.url(`/events?${query(NAMES.map(([name]) => name))}`));
    await direct.waitFor((x) => x.named('stream-open').length === 1, 5000, 'the direct stream');
    for (const [name] of NAMES) await ev.publish(name, { event: 'tag', data: `to ${name}` });
    for (const [name] of NAMES) {
      const c = clients.get(name)!;
      await c.waitFor((x) => tags(x).length >= 1, 5000, `the event on ${name}`);
    }
    // A sentinel on every channel: once it has arrived, any stray event would have too.
    for (const [name] of NAMES) await ev.publish(name, { event: 'done', data: 0 });
    for (const [name] of NAMES) {
      const c = clients.get(name)!;
      await c.waitFor((x) => x.named('done').length === 1, 5000, `the sentinel on ${name}`);
      expect(tags(c), name).toEqual([`to ${name}`]);
    }
    await direct.waitFor((x) => x.named('done').length === NAMES.length, 5000, 'every sentinel directly');
    expect(tags(direct)).toEqual(NAMES.map(([name]) => `to ${name}`));
  });

  it('reliable mode: a withheld event on é and 日本 is recovered without a stream-reset', async () => {
    const { ev, pp, withheld } = await setup(true);
    const c = await sse(`${pp.baseUrl}/events?${query(['é', '日本'])}`);
    await pp.waitForSubscription('events-%C3%A9');
    await pp.waitForSubscription('events-%E6%97%A5%E6%9C%AC');
    withheld.add('"é2"');
    withheld.add('"日本2"');
    for (let i = 1; i <= 3; i++) {
      await ev.publish('é', { event: 'tag', data: `é${i}` });
      await ev.publish('日本', { event: 'tag', data: `日本${i}` });
    }
    await c.waitFor((x) => tags(x).length >= 6, 20_000, 'all six events');
    await ev.publish('é', { event: 'done', data: 0 });
    await c.waitFor((x) => x.named('done').length === 1, 20_000, 'a later event');
    expect(tags(c)).toEqual(['é1', '日本1', 'é2', '日本2', 'é3', '日本3']);
    expect(c.named('stream-reset')).toEqual([]);
    // The events came through the recovery link, which Pushpin fetched with the encoded names.
    await pp.waitForLog(/es-recover/, { file: 'pushpin-handler.log' });
  });
});

describe('channel names on the wire', () => {
  it('ASCII names without reserved characters are unchanged; everything else is percent-encoded UTF-8 and decodes back', () => {
    for (const [name, wire] of NAMES) {
      expect(gripChannelName('events-', name)).toBe(wire);
      expect(decodeGripChannelName(wire)).toBe(`events-${name}`);
    }
    // Injective: `%` is encoded, so a name that looks encoded is not confused with the original.
    expect(gripChannelName('', '%C3%A9')).not.toBe(gripChannelName('', 'é'));
    expect(decodeGripChannelName('%E6%97')).toBeUndefined();
  });

  it('every printable character round-trips, and the wire form is printable ASCII without , ; = " \\', () => {
    for (let cp = 0x20; cp <= 0x2ffff; cp += cp < 0x250 ? 1 : 211) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const name = `x${String.fromCodePoint(cp)}y`;
      if (channelNameProblem(name) !== undefined) continue;
      const wire = gripChannelName('p-', name);
      expect(wire).toMatch(/^[\x20-\x7e]+$/);
      expect(wire).not.toMatch(/[,;="\\]/);
      expect(decodeGripChannelName(wire)).toBe(`p-${name}`);
    }
  });

  it('a lone surrogate (no UTF-8 form) is not a valid channel name', () => {
    expect(channelNameProblem('a\ud800')).toMatch(/well-formed/);
    expect(channelNameProblem('\udc00b')).toMatch(/well-formed/);
    expect(channelNameProblem('🎉')).toBeUndefined();
    const ev = events();
    cleanups.push(() => ev.close());
    expect(() => ev.channel('x\ud83d')).toThrow(/well-formed/);
  });
});
