// GRIP reliable mode's recovery links against a REAL Pushpin: a link is honoured only on a fetch
// by the proxy itself, only while `authorize` allows its channels, and only for a short lifetime.
// Whatever is refused ends the proxied stream; the client then reconnects through the ordinary,
// authorized path with its Last-Event-ID.
import { createHmac } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createGripSink, resolveGrip } from '../../src/grip/index.js';
import { linkLifetimeSec, signRecoveryToken, verifyRecoveryToken } from '../../src/grip/recovery.js';
import { createHandler, type EncodedEvent, type Events, events, type HttpRequest } from '../../src/index.js';
import { ensurePushpin, type PushpinInstance, startPushpin } from '../helpers/pushpin.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, request, type SseClient } from '../helpers/sse-client.js';

const SECRET = 'recovery-links-secret-0123456789';
const cleanups: Array<() => Promise<void> | void> = [];
const pushpins: PushpinInstance[] = [];
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') for (const pp of pushpins) console.error(pp.tailLogs());
  pushpins.length = 0;
  vi.useRealTimers();
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
beforeAll(async () => {
  await ensurePushpin();
});

interface Setup {
  ev: Events;
  pp: PushpinInstance;
  origin: TestServer;
  /** Events whose data is in here are stored but never sent to the proxy (a lost publish). */
  withheld: Set<number>;
}

async function setup(authorize?: (req: HttpRequest, channels: readonly string[]) => boolean): Promise<Setup> {
  const ev = events({ keepAlive: false, reliable: { secret: SECRET, linkTimeoutSec: 60 } });
  const handler = createHandler({
    events: ev,
    grip: 'http://127.0.0.1:5561?key=changeme',
    ...(authorize && { authorize }),
  });
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
  return { ev, pp, origin, withheld };
}

async function sse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const c = await connect(url, { accept: 'text/event-stream', ...headers });
  cleanups.push(() => c.close());
  return c;
}

const numbers = (c: SseClient) => c.named('n').map((e) => JSON.parse(e.data) as number);

/** Pushpin's own Grip-Sig (HS256 with its default key), for requests straight to the origin. */
function gripSig(): string {
  const h = Buffer.from('{"typ":"JWT","alg":"HS256"}').toString('base64url');
  const p = Buffer.from(
    JSON.stringify({ iss: 'pushpin', exp: Math.floor(Date.now() / 1000) + 600 }),
  ).toString('base64url');
  return `${h}.${p}.${createHmac('sha256', 'changeme').update(`${h}.${p}`).digest('base64url')}`;
}

describe('recovery links through a real Pushpin', { timeout: 60_000 }, () => {
  it('every recovery calls authorize with the link’s channels; once access is revoked the stream ends instead', async () => {
    let allowed = true;
    const recoveries: string[][] = [];
    const { ev, pp, withheld } = await setup((req, channels) => {
      if (req.headers['grip-last'] !== undefined) recoveries.push([...channels]);
      return allowed;
    });
    const c = await sse(`${pp.baseUrl}/events?channel=r`);
    await pp.waitForSubscription('events-r');
    withheld.add(2);
    for (let i = 1; i <= 3; i++) await ev.publish('r', { event: 'n', data: i });
    await c.waitFor((x) => numbers(x).length === 3, 20_000, 'the withheld event via recovery');
    expect(numbers(c)).toEqual([1, 2, 3]);
    expect(recoveries).toContainEqual(['r']);

    allowed = false;
    const before = recoveries.length;
    await ev.publish('r', { event: 'n', data: 4 });
    withheld.add(5);
    await ev.publish('r', { event: 'n', data: 5 });
    await ev.publish('r', { event: 'n', data: 6 });
    await c.waitFor((x) => x.ended, 20_000, 'the proxied stream to end');
    expect(recoveries.length).toBeGreaterThan(before);
    // Event 4 may arrive live (or be dropped with the proxy's queue); the recovered ones never do.
    expect(numbers(c).slice(0, 3)).toEqual([1, 2, 3]);
    expect(numbers(c)).not.toContain(5);
    expect(numbers(c)).not.toContain(6);

    // The client's reconnect takes the ordinary path and is refused there.
    const again = await sse(`${pp.baseUrl}/events?channel=r`, { 'last-event-id': c.named('n')[2]!.id! });
    await again.waitFor((x) => x.ended, 5000, 'the refused reconnect');
    expect(again.named('stream-error').map((e) => JSON.parse(e.data).condition)).toEqual(['forbidden']);
    expect(numbers(again)).toEqual([]);
  });

  it('a client presenting a valid link, through Pushpin (even with a forged Grip-Last) or directly, gets no recovery stream', async () => {
    const { ev, pp, origin } = await setup((req) => req.headers.cookie === 'session=alice');
    // Alice's hold, as Pushpin would request it: the response carries her recovery link.
    const held = await request(origin.url('/events?channel=secret'), {
      headers: { accept: 'text/event-stream', cookie: 'session=alice', 'grip-sig': gripSig() },
    });
    expect(held.headers['grip-hold']).toBe('stream');
    const link = /^<([^>]+)>; rel=next/.exec(String(held.headers['grip-link']))?.[1];
    expect(link).toMatch(/es-recover=/);

    const forged = { 'grip-last': 'events-secret; last-id=x-0' };
    const viaProxy = await sse(`${pp.baseUrl}${link}`, forged);
    const direct = await sse(origin.url(link!), forged);
    const bare = link!.replace(/channel=secret&/, '');
    expect(bare).not.toContain('channel=');
    const bareViaProxy = await sse(`${pp.baseUrl}${bare}`, forged);
    for (const [c, condition] of [
      [viaProxy, 'forbidden'],
      [direct, 'forbidden'],
      [bareViaProxy, 'bad-request'],
    ] as const) {
      await c.waitFor((x) => x.ended, 5000, 'the refusal');
      expect(c.named('stream-error').map((e) => JSON.parse(e.data).condition)).toEqual([condition]);
    }
    await ev.publish('secret', { event: 'n', data: 1 });
    expect([viaProxy, direct, bareViaProxy].map(numbers)).toEqual([[], [], []]);
  });

  it('an expired link is refused: the stream ends, and the reconnect resumes without loss', async () => {
    const { ev, pp, withheld } = await setup();
    const c = await sse(`${pp.baseUrl}/events?channel=x`);
    await pp.waitForSubscription('events-x');
    await ev.publish('x', { event: 'n', data: 1 });
    await c.waitFor((x) => numbers(x).length === 1, 5000, 'event 1');

    // The origin's clock moves past the link's lifetime (only Date: timers stay real).
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() + (linkLifetimeSec(60) + 30) * 1000);
    withheld.add(2);
    await ev.publish('x', { event: 'n', data: 2 });
    await ev.publish('x', { event: 'n', data: 3 });
    await c.waitFor((x) => x.ended, 20_000, 'the proxied stream to end');
    expect(numbers(c)).toEqual([1]);

    const again = await sse(`${pp.baseUrl}/events?channel=x`, { 'last-event-id': c.named('n')[0]!.id! });
    await again.waitFor((x) => numbers(x).length === 2, 5000, 'the replayed events');
    expect(numbers(again)).toEqual([2, 3]);
  });
});

describe('recovery tokens', () => {
  it('live for linkLifetimeSec (a few link timeouts), not a day', () => {
    expect(linkLifetimeSec(120)).toBe(360);
    expect(linkLifetimeSec(1)).toBe(30);
    const t0 = Date.UTC(2026, 0, 1);
    const token = signRecoveryToken(['a', 'é'], SECRET, linkLifetimeSec(60), t0);
    expect(verifyRecoveryToken(token, SECRET, t0 + 179_000)).toEqual({
      channels: ['a', 'é'],
      identity: undefined,
    });
    expect(verifyRecoveryToken(token, SECRET, t0 + 181_000)).toBeUndefined();
    expect(verifyRecoveryToken(token, 'another-secret-0123456789abcdef', t0)).toBeUndefined();
  });

  it('carry a token-opened stream’s identity sealed: read back by the secret, not readable in the link', () => {
    const t0 = Date.UTC(2026, 0, 1);
    const identity = { sub: 'alice@example.com', tokenId: 'jti-7', expiresAt: t0 + 60_000 };
    const token = signRecoveryToken(['a'], SECRET, 60, t0, identity);
    expect(verifyRecoveryToken(token, SECRET, t0)).toEqual({ channels: ['a'], identity });
    const payload = Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8');
    expect(payload).not.toContain('alice');
    expect(payload).not.toContain('jti-7');
    const noSub = signRecoveryToken(['a'], SECRET, 60, t0, { sub: undefined, tokenId: 't', expiresAt: 1 });
    expect(verifyRecoveryToken(noSub, SECRET, t0)?.identity).toEqual({
      sub: undefined,
      tokenId: 't',
      expiresAt: 1,
    });
  });
});
