// Identity behind a real Pushpin: the streams the proxy holds never reach the origin's connection
// table, yet a revocation ends the revoked user's (and only theirs), a token's expiry ends its
// streams, and reconnects through the proxy are refused (revoked) or resume with a fresh token.
import { SignJWT } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHandler, type Events, events, tokens } from '../../src/index.js';
import { ensurePushpin, freePorts, type PushpinInstance, startPushpin } from '../helpers/pushpin.js';
import { startServer } from '../helpers/server.js';
import { connect, type SseClient } from '../helpers/sse-client.js';

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!';
const cleanups: Array<() => Promise<void> | void> = [];
const pushpins: PushpinInstance[] = [];

beforeAll(async () => {
  await ensurePushpin();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') for (const pp of pushpins) console.error(pp.tailLogs());
  pushpins.length = 0;
  for (const c of cleanups.splice(0).reverse()) await c();
});

function token(sub: string, options: { jti?: string; expSec?: number } = {}): Promise<string> {
  const jwt = new SignJWT({ sub, channels: ['user:{sub}:*', 'room:*'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(options.expSec ?? '5m');
  if (options.jti !== undefined) jwt.setJti(options.jti);
  return jwt.sign(new TextEncoder().encode(SECRET));
}

/** An origin with subscriber tokens behind its own Pushpin; `recoveries` counts its link fetches. */
async function proxied(
  options: { reliable?: { linkTimeoutSec: number } } = {},
): Promise<{ ev: Events; pp: PushpinInstance; recoveries: () => number }> {
  const [httpPort, publishPort] = await freePorts(2);
  const ev = events({
    grip: `http://127.0.0.1:${publishPort}?key=changeme`,
    keepAlive: false,
    ...(options.reliable && { reliable: options.reliable }),
  });
  const handler = createHandler({
    events: ev,
    authorize: tokens({ keys: [{ secret: SECRET }], from: ['header', 'query:token'] }),
  });
  let recoveries = 0;
  const server = await startServer((req, res) => {
    if (req.headers['grip-last'] !== undefined) recoveries++;
    return handler(req, res);
  });
  cleanups.push(async () => {
    await ev.close();
    await server.close();
  });
  const pp = await startPushpin({ originPort: server.port, httpPort, publishPort });
  pushpins.push(pp);
  cleanups.push(() => pp.stop());
  return { ev, pp, recoveries: () => recoveries };
}

async function open(
  pp: PushpinInstance,
  channel: string,
  bearer: string,
  lastEventId?: string,
  via: 'header' | 'query' = 'header',
): Promise<SseClient> {
  const query = via === 'query' ? `&token=${encodeURIComponent(bearer)}` : '';
  const es = await connect(`${pp.baseUrl}/?channel=${encodeURIComponent(channel)}${query}`, {
    accept: 'text/event-stream',
    ...(via === 'header' && { authorization: `Bearer ${bearer}` }),
    ...(lastEventId !== undefined && { 'last-event-id': lastEventId }),
  });
  cleanups.push(() => es.close());
  await es.waitFor((c) => c.named('stream-open').length === 1 || c.ended, 15_000, 'stream-open');
  return es;
}

const condition = (es: SseClient): unknown => JSON.parse(es.named('stream-error')[0]?.data ?? '{}').condition;

/** Each hold subscribes the stream to its private channels at once: wait until Pushpin did. */
const privateSubscriptions = (pp: PushpinInstance, kind: 'sub' | 'tok' | 'exp', count: number) =>
  pp.waitForLog(new RegExp(`subscribe \\S+ channel=events-%!${kind}-`), { count, timeoutMs: 15_000 });

describe('identity behind Pushpin', () => {
  it('revoke() ends the held streams of the revoked subject or token only, and refuses their reconnects', async () => {
    const { ev, pp } = await proxied();
    const alice = [
      await open(pp, 'room:1', await token('alice', { jti: 'a1' })),
      await open(pp, 'user:alice:inbox', await token('alice', { jti: 'a2' })),
    ];
    const bob = await open(pp, 'room:1', await token('bob', { jti: 'b1' }));
    const bobPhone = await open(pp, 'room:2', await token('bob', { jti: 'b2' }));
    await privateSubscriptions(pp, 'sub', 4);
    await privateSubscriptions(pp, 'tok', 4);
    // The proxy holds them all: nothing for the origin's own revocation to find.
    expect(ev.stats().connections).toBe(0);

    await ev.revoke({ sub: 'alice' });
    for (const es of alice) {
      await es.waitFor((c) => c.ended, 15_000, 'alice held stream to end');
      expect(condition(es)).toBe('revoked');
    }
    await ev.revoke({ tokenId: 'b2' });
    await bobPhone.waitFor((c) => c.ended, 15_000, "bob's revoked token's stream to end");
    expect(condition(bobPhone)).toBe('revoked');

    await ev.publish('room:1', { event: 'msg', data: 'still here' });
    await bob.waitFor((c) => c.named('msg').length === 1, 15_000, 'bob to keep receiving');
    expect(bob.ended).toBe(false);
    // Reconnects through the proxy reach the origin's check and are refused.
    expect(condition(await open(pp, 'room:1', await token('alice', { jti: 'a3' })))).toBe('revoked');
    expect(condition(await open(pp, 'room:2', await token('bob', { jti: 'b2' })))).toBe('revoked');
  });

  it('reliable mode: after recovery fetches (no cookie, no header) a held stream stays open, and a revocation still ends it', async () => {
    const { ev, pp, recoveries } = await proxied({ reliable: { linkTimeoutSec: 1 } });
    const byHeader = await open(pp, 'room:5', await token('erin', { jti: 'e1' }));
    const byQuery = await open(pp, 'room:5', await token('erin', { jti: 'e2' }), undefined, 'query');
    const other = await open(pp, 'room:5', await token('frank'));
    await privateSubscriptions(pp, 'sub', 3);
    // Pushpin polls each stream's link every second while it idles; each answer replaces the hold.
    await vi.waitUntil(() => recoveries() >= 9, { timeout: 30_000, interval: 50 });
    for (const es of [byHeader, byQuery, other]) expect(es.ended).toBe(false);
    await ev.publish('room:5', { event: 'msg', data: 'after recoveries' });
    for (const es of [byHeader, byQuery, other])
      await es.waitFor((c) => c.named('msg').length === 1, 15_000, 'the event after recoveries');

    await ev.revoke({ sub: 'erin' });
    for (const es of [byHeader, byQuery]) {
      await es.waitFor((c) => c.ended, 15_000, "erin's recovered streams to end");
      expect(condition(es)).toBe('revoked');
    }
    await ev.publish('room:5', { event: 'msg', data: 'still here' });
    await other.waitFor((c) => c.named('msg').length === 2, 15_000, 'frank to keep receiving');
    expect(other.ended).toBe(false);
  });

  it("a hold needing more than Pushpin's 20 channels (its private ones included) is refused, naming the limit; 20 is held whole", async () => {
    const { ev, pp } = await proxied();
    const rooms = (n: number) => Array.from({ length: n }, (_, i) => `channel=room:${i}`).join('&');
    // 18 requested + subject, token id and expiry second = 21: Pushpin would drop the last ones.
    const tooMany = await connect(`${pp.baseUrl}/?${rooms(18)}`, {
      authorization: `Bearer ${await token('gina', { jti: 'g1' })}`,
    });
    cleanups.push(() => tooMany.close());
    await tooMany.waitFor((c) => c.ended, 15_000, 'the refusal');
    expect(tooMany.status).toBe(400);
    expect(tooMany.body).toContain(
      "a stream through the proxy subscribes at most 20 channels (Pushpin's connection_subscription_max), this one 21 (18 requested, 3 for its token's revocation and expiry)",
    );
    const asEventSource = await connect(`${pp.baseUrl}/?${rooms(18)}`, {
      accept: 'text/event-stream',
      authorization: `Bearer ${await token('gina', { jti: 'g1' })}`,
    });
    cleanups.push(() => asEventSource.close());
    await asEventSource.waitFor((c) => c.ended, 15_000, 'the stream-error');
    expect(condition(asEventSource)).toBe('bad-request');

    // 17 + 3 = 20: every channel is subscribed, the private ones too, so the revocation reaches it.
    const es = await connect(`${pp.baseUrl}/?${rooms(17)}`, {
      accept: 'text/event-stream',
      authorization: `Bearer ${await token('gina', { jti: 'g2' })}`,
    });
    cleanups.push(() => es.close());
    await es.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');
    await privateSubscriptions(pp, 'tok', 1);
    await ev.revoke({ tokenId: 'g2' });
    await es.waitFor((c) => c.ended, 15_000, 'the revoked stream to end');
    expect(condition(es)).toBe('revoked');
  });

  it('a held stream ends when its token expires; the client resumes with a fresh token, missing nothing', async () => {
    const { ev, pp } = await proxied();
    const expSec = Math.ceil(Date.now() / 1000) + 3;
    const short = await open(pp, 'room:9', await token('carol', { expSec }));
    const long = await open(pp, 'room:9', await token('dave'));
    await privateSubscriptions(pp, 'exp', 2);
    await ev.publish('room:9', { event: 'msg', data: 1 });
    await short.waitFor((c) => c.named('msg').length === 1, 15_000, 'the first event');

    await short.waitFor((c) => c.ended, 20_000, 'the expired stream to end');
    const endedAt = Date.now();
    expect(condition(short)).toBe('token-expired');
    expect(short.named('stream-error')[0]!.id).toBeUndefined(); // the client keeps its position
    console.log(`held stream ended ${endedAt - expSec * 1000} ms after exp`);
    expect(long.ended).toBe(false);

    await ev.publish('room:9', { event: 'msg', data: 2 });
    const lastId = short.named('msg')[0]!.id;
    const resumed = await open(pp, 'room:9', await token('carol'), lastId);
    await resumed.waitFor((c) => c.named('msg').length === 1, 15_000, 'the missed event');
    expect(resumed.named('msg').map((e) => e.data)).toEqual(['2']);
    await long.waitFor((c) => c.named('msg').length === 2, 15_000, 'the other stream to keep going');
  });
});
