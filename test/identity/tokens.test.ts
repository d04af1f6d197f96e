// Subscriber tokens (`authorize: tokens(...)`) through a real node:http server: which requests get
// a stream, with which status and condition, and what the verified identity is used for.
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { channel as diagnosticsChannel } from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { exportJWK, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, type StreamIdentity, type TokenOptions, tokens } from '../../src/index.js';
import { type EventsFixture, serveEvents } from '../helpers/server.js';
import { request } from '../helpers/sse-client.js';

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!';
const OTHER_SECRET = 'another-secret-of-thirty-two-bytes-or-more';
const enc = (s: string) => new TextEncoder().encode(s);
const now = () => Math.floor(Date.now() / 1000);

async function hs256(claims: Record<string, unknown>, secret = SECRET, header: Record<string, unknown> = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', ...header })
    .setIssuedAt()
    .setExpirationTime(typeof claims.exp === 'number' ? claims.exp : now() + 60)
    .sign(enc(secret));
}

/** A token whose header and signature we write ourselves (alg none, key confusion). */
function rawToken(header: object, claims: object, sign: (input: string) => string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${sign(input)}`;
}

const fixtures: EventsFixture[] = [];
afterEach(async () => {
  for (const fx of fixtures.splice(0)) await fx.close();
});

async function serve(options: Partial<TokenOptions> = {}, handler: object = {}): Promise<EventsFixture> {
  const fx = await serveEvents(
    { keepAlive: false },
    {
      authorize: tokens({ keys: [{ secret: SECRET }], audience: 'events', issuer: 'app', ...options }),
      ...handler,
    },
  );
  fixtures.push(fx);
  return fx;
}

/** A HEAD request's status (no EventSource Accept header: refusals are statuses). */
async function statusOf(fx: EventsFixture, path: string, headers: Record<string, string> = {}) {
  const res = await request(fx.server.url(path), { method: 'HEAD', headers });
  return res.status;
}

const good = { aud: 'events', iss: 'app', sub: 'alice', channels: ['user:{sub}:*', 'news'] };

describe('subscriber tokens', () => {
  it('open a stream only with a valid token from the header, a cookie or the query', async () => {
    const fx = await serve({ from: ['header', 'cookie:session', 'query:token'] });
    const token = await hs256(good);
    const path = '/?channel=user:alice:inbox&channel=news';
    expect(await statusOf(fx, path)).toBe(401);
    expect(await statusOf(fx, path, { authorization: `Bearer ${token}` })).toBe(200);
    expect(await statusOf(fx, path, { cookie: `theme=dark; session=${token}` })).toBe(200);
    expect(await statusOf(fx, `${path}&token=${token}`)).toBe(200);
  });

  it('refuse forged, alg none, key-confused, expired, wrong-audience and wrong-issuer tokens precisely', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const fx = await serve({ keys: [{ publicKey: pem, alg: 'RS256' }] });
    const claims = { ...good, iat: now(), exp: now() + 60 };
    const cases: Array<[string, string, number, string]> = [
      ['forged (HS256 with a secret the server does not know)', await hs256(good), 401, 'not accepted'],
      ['alg none', rawToken({ alg: 'none' }, claims, () => ''), 401, 'algorithm is not accepted'],
      [
        'key confusion (HS256 keyed with the RSA public key)',
        rawToken({ alg: 'HS256' }, claims, (input) =>
          createHmac('sha256', pem).update(input).digest('base64url'),
        ),
        401,
        'algorithm is not accepted',
      ],
      ['garbage', 'not.a.jwt', 401, 'malformed'],
    ];
    for (const [what, token, status, text] of cases) {
      const res = await request(fx.server.url('/?channel=news'), {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status, what).toBe(status);
      expect(res.body, what).toContain(text);
    }
    // Expired, audience and issuer are only told for a token whose signature verified.
    const hsFx = await serve();
    const refusals: Array<[Record<string, unknown>, number, string]> = [
      [{ ...good, exp: now() - 30 }, 401, 'Unauthorized: the token expired'],
      [{ ...good, aud: 'other' }, 401, `the token's audience is not accepted`],
      [{ ...good, iss: 'evil' }, 401, `the token's issuer is not accepted`],
      [{ ...good, channels: 'news' }, 401, 'channels claim must be an array'],
      [{ ...good, sub: undefined }, 401, 'names {sub} but it has no sub'],
    ];
    for (const [claims, status, text] of refusals) {
      const token = await hs256(claims);
      const res = await request(hsFx.server.url('/?channel=news'), {
        headers: { authorization: `Bearer ${token}` },
      });
      expect([res.status, res.body.trim()], text).toEqual([status, expect.stringContaining(text)]);
    }
    // An EventSource gets the condition as a stream-error event (an expired token: refresh it).
    const expired = await hs256({ ...good, exp: now() - 30 });
    const es = await hsFx.open('/?channel=news', {
      accept: 'text/event-stream',
      authorization: `Bearer ${expired}`,
    });
    await es.waitFor((c) => c.ended);
    expect(JSON.parse(es.named('stream-error')[0]!.data)).toMatchObject({ condition: 'token-expired' });
  });

  it('refuse a token without exp or living longer than maxLifetimeSec', async () => {
    const fx = await serve({ maxLifetimeSec: 600 });
    const noExp = await new SignJWT(good).setProtectedHeader({ alg: 'HS256' }).sign(enc(SECRET));
    const long = await hs256({ ...good, exp: now() + 3600 });
    for (const [token, text] of [
      [noExp, 'the token has no exp'],
      [long, 'lives longer than maxLifetimeSec'],
    ] as const) {
      const res = await request(fx.server.url('/?channel=news'), {
        headers: { authorization: `Bearer ${token}` },
      });
      expect([res.status, res.body]).toEqual([401, expect.stringContaining(text)]);
    }
  });

  it('rotate keys: several secrets, kid, a public key and a JWKS URL', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
    const jwks = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
      const fx = await serve({
        keys: [{ secret: OTHER_SECRET, kid: 'new' }, { secret: SECRET, kid: 'old' }, { jwksUrl: url }],
      });
      const ok = async (token: string) =>
        (
          await request(fx.server.url('/?channel=news'), {
            method: 'HEAD',
            headers: { authorization: `Bearer ${token}` },
          })
        ).status;
      expect(await ok(await hs256(good, SECRET, { kid: 'old' }))).toBe(200);
      expect(await ok(await hs256(good, OTHER_SECRET, { kid: 'new' }))).toBe(200);
      expect(await ok(await hs256(good, SECRET))).toBe(200); // no kid: every secret is tried
      expect(await ok(await hs256(good, SECRET, { kid: 'new' }))).toBe(401); // kid names the other key
      const es256 = await new SignJWT(good)
        .setProtectedHeader({ alg: 'ES256', kid: 'ec-1' })
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(privateKey);
      expect(await ok(es256)).toBe(200);
    } finally {
      await new Promise((r) => jwks.close(r));
    }
  });

  it('give channels() the verified identity', async () => {
    const fx = await serve(
      {},
      { channels: (_req: unknown, identity?: StreamIdentity) => [`user:${identity?.sub}:inbox`] },
    );
    const seen: unknown[] = [];
    fx.ev.on('connect', (info) => seen.push(info.identity?.sub));
    const token = await hs256(good);
    const es = await fx.open('/', { accept: 'text/event-stream', authorization: `Bearer ${token}` });
    await es.waitFor((c) => c.named('stream-open').length === 1);
    await fx.ev.publish('user:alice:inbox', { event: 'mail', data: 1 });
    await es.waitFor((c) => c.named('mail').length === 1);
    expect(seen).toEqual(['alice']);
  });

  it('give the filter and presence hooks the verified identity', async () => {
    const fx = await serveEvents(
      { keepAlive: false, presence: { channels: ['news'] } },
      {
        authorize: tokens({ keys: [{ secret: SECRET }], audience: 'events', issuer: 'app' }),
        presence: (_req: unknown, _channels: readonly string[], identity?: StreamIdentity) =>
          identity?.sub === undefined ? undefined : { id: identity.sub },
        filter: (_req: unknown, _channels: readonly string[], identity?: StreamIdentity) => ({
          key: `to:${identity?.sub}`,
          match: (event) => event.event !== 'private' || event.json() === identity?.sub,
        }),
      },
    );
    fixtures.push(fx);
    const es = await fx.open('/?channel=news', {
      accept: 'text/event-stream',
      authorization: `Bearer ${await hs256(good)}`,
    });
    await es.waitFor((c) => c.named('stream-open').length === 1);
    expect((await fx.ev.presence('news')).members.map((m) => m.id)).toEqual(['alice']);
    await fx.ev.publish('news', { event: 'private', data: 'bob' });
    await fx.ev.publish('news', { event: 'private', data: 'alice' });
    await es.waitFor((c) => c.named('private').length === 1);
    expect(es.named('private')[0]!.data).toBe('"alice"');
  });

  it('never put a query token in diagnostics messages or events', async () => {
    const fx = await serve({ from: ['query:token'] });
    const token = await hs256(good);
    const captured: string[] = [];
    const names = ['connect', 'disconnect', 'replay', 'deliver', 'refuse'].map(
      (n) => `express-eventstream:${n}`,
    );
    const listener = (message: unknown) =>
      captured.push(JSON.stringify(message, (k, v) => (k === 'source' ? undefined : v)));
    for (const name of names) diagnosticsChannel(name).subscribe(listener);
    try {
      fx.ev.on('connect', (info) => captured.push(JSON.stringify(info)));
      const es = await fx.open(`/?channel=news&token=${token}`);
      await es.waitFor((c) => c.named('stream-open').length === 1);
      es.close();
      await new Promise<void>((r) => fx.ev.once('disconnect', () => r()));
      // A refused request's diagnostics name its path, never its query.
      expect(await statusOf(fx, `/?channel=secret&token=${token}`)).toBe(403);
    } finally {
      for (const name of names) diagnosticsChannel(name).unsubscribe(listener);
    }
    expect(captured.join('\n')).toContain('"sub":"alice"');
    expect(captured.join('\n')).toContain('"status":403');
    expect(captured.join('\n')).not.toContain(token.split('.')[2]);
  });

  it('check its options', () => {
    expect(() => tokens({ keys: [] })).toThrow(InvalidOptionError);
    expect(() => tokens({ keys: [{ secret: 'short' }] })).toThrow(/at least 32 bytes/);
    expect(() => tokens({ keys: [{ secret: SECRET }], from: ['body' as never] })).toThrow(/token source/);
    expect(() => tokens({ keys: [{ secret: SECRET }], clockToleranceSec: 9999 })).toThrow(InvalidOptionError);
  });
});

describe('property: a stream opens iff every requested channel is granted', () => {
  const part = fc.constantFrom('a', 'b', ':', 'ab');
  const pattern = fc
    .array(fc.oneof(part, fc.constant('*'), fc.constant('{sub}')), { minLength: 1, maxLength: 5 })
    .map((parts) => parts.join(''));
  const channelName = fc
    .array(fc.constantFrom('a', 'b', ':', '*'), { minLength: 1, maxLength: 6 })
    .map((p) => p.join(''));
  const sub = fc.array(fc.constantFrom('a', 'b', '*'), { minLength: 1, maxLength: 3 }).map((p) => p.join(''));

  /** The oracle: each pattern as a regular expression, `{sub}` as its literal text. */
  function granted(patterns: string[], subject: string, channel: string): boolean {
    const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return patterns.some((p) => {
      const source = p
        .split('*')
        .map((piece) => piece.split('{sub}').map(literal).join(literal(subject)))
        .join('.*');
      return new RegExp(`^${source}$`, 's').test(channel);
    });
  }

  it('holds for random patterns, subjects and channels', async () => {
    const fx = await serve();
    await fc.assert(
      fc.asyncProperty(
        fc.array(pattern, { maxLength: 4 }),
        sub,
        fc.uniqueArray(channelName, { minLength: 1, maxLength: 3 }),
        async (patterns, subject, channels) => {
          const token = await hs256({ ...good, sub: subject, channels: patterns });
          const query = channels.map((c) => `channel=${encodeURIComponent(c)}`).join('&');
          const status = await statusOf(fx, `/?${query}`, { authorization: `Bearer ${token}` });
          const expected = channels.every((c) => granted(patterns, subject, c)) ? 200 : 403;
          expect(status).toBe(expected);
        },
      ),
      { numRuns: 150 },
    );
  });
});
