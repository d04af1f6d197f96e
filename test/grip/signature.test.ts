import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SignJWT } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { nodeRequestView } from '../../src/adapters/node.js';
import { checkGripRequest, type GripOption, resolveGrip } from '../../src/grip/index.js';
import type { RequestView } from '../../src/protocol/request-view.js';

const now = () => Math.floor(Date.now() / 1000);

function req(headers: Record<string, string | string[]>): RequestView {
  return nodeRequestView({ method: 'GET', url: '/', headers } as unknown as IncomingMessage);
}

function settings(option: GripOption) {
  const s = resolveGrip(option);
  if (s === undefined) throw new Error('no settings');
  return s;
}

/** HS256 JWT built by hand, exactly like Pushpin: header {typ, alg}, claims as given. */
function hs256(claims: Record<string, unknown>, key: string | Buffer, alg = 'HS256'): string {
  const h = Buffer.from(JSON.stringify({ typ: 'JWT', alg })).toString('base64url');
  const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const sig = createHmac('sha256', key).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${sig}`;
}

async function es256(claims: Record<string, unknown>, key: KeyObject): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(key);
}

const PUSHPIN = settings('http://127.0.0.1:5561?key=changeme');

describe('checkGripRequest: HS256 (Pushpin)', () => {
  it('no Grip-Sig → direct, even with other Grip-* headers', async () => {
    expect(await checkGripRequest(req({}), PUSHPIN)).toEqual({ kind: 'direct' });
    expect(
      await checkGripRequest(req({ 'grip-feature': 'status', 'grip-last': 'a; last-id=1' }), PUSHPIN),
    ).toEqual({
      kind: 'direct',
    });
  });

  it("a valid Pushpin token (iss pushpin, exp +1h, key 'changeme') → proxied", async () => {
    const token = hs256({ iss: 'pushpin', exp: now() + 3600 }, 'changeme');
    expect(await checkGripRequest(req({ 'grip-sig': token }), PUSHPIN)).toEqual({ kind: 'proxied' });
    // Served from the verified-token cache the second time.
    expect(await checkGripRequest(req({ 'grip-sig': token }), PUSHPIN)).toEqual({ kind: 'proxied' });
  });

  it('takes the first value when the header is repeated', async () => {
    const token = hs256({ exp: now() + 60 }, 'changeme');
    expect(await checkGripRequest(req({ 'grip-sig': `${token}, garbage` }), PUSHPIN)).toEqual({
      kind: 'proxied',
    });
  });

  it('expired → invalid', async () => {
    const token = hs256({ iss: 'pushpin', exp: now() - 10 }, 'changeme');
    expect(await checkGripRequest(req({ 'grip-sig': token }), PUSHPIN)).toEqual({
      kind: 'invalid',
      reason: 'invalid Grip-Sig: expired',
    });
  });

  it('a cached token stops being accepted once it expires', async () => {
    const s = settings('http://127.0.0.1:5561?key=cache-test');
    const token = hs256({ exp: now() + 1 }, 'cache-test');
    expect((await checkGripRequest(req({ 'grip-sig': token }), s)).kind).toBe('proxied');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 5000);
    try {
      expect(await checkGripRequest(req({ 'grip-sig': token }), s)).toEqual({
        kind: 'invalid',
        reason: 'invalid Grip-Sig: expired',
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it('missing exp → invalid', async () => {
    const token = hs256({ iss: 'pushpin' }, 'changeme');
    expect(await checkGripRequest(req({ 'grip-sig': token }), PUSHPIN)).toEqual({
      kind: 'invalid',
      reason: 'invalid Grip-Sig: missing or malformed exp claim',
    });
  });

  it('wrong key → invalid', async () => {
    const token = hs256({ iss: 'pushpin', exp: now() + 60 }, 'not-changeme');
    expect(await checkGripRequest(req({ 'grip-sig': token }), PUSHPIN)).toEqual({
      kind: 'invalid',
      reason: 'invalid Grip-Sig: signature does not verify',
    });
  });

  it('forged: tampered claims, garbage, alg none, empty → invalid', async () => {
    const good = hs256({ iss: 'pushpin', exp: now() + 60 }, 'changeme');
    const [h, , s] = good.split('.');
    const p = Buffer.from(JSON.stringify({ iss: 'pushpin', exp: now() + 999_999 })).toString('base64url');
    expect((await checkGripRequest(req({ 'grip-sig': `${h}.${p}.${s}` }), PUSHPIN)).kind).toBe('invalid');
    expect(await checkGripRequest(req({ 'grip-sig': 'forged' }), PUSHPIN)).toEqual({
      kind: 'invalid',
      reason: 'invalid Grip-Sig: malformed token',
    });
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    expect((await checkGripRequest(req({ 'grip-sig': none }), PUSHPIN)).kind).toBe('invalid');
    expect(await checkGripRequest(req({ 'grip-sig': '' }), PUSHPIN)).toEqual({
      kind: 'invalid',
      reason: 'invalid Grip-Sig: empty',
    });
  });

  it('an HS384/HS512 token is refused (only HS256 for shared secrets)', async () => {
    const token = await new SignJWT({ exp: now() + 60 })
      .setProtectedHeader({ alg: 'HS512' })
      .sign(new TextEncoder().encode('changeme'));
    expect(await checkGripRequest(req({ 'grip-sig': token }), PUSHPIN)).toEqual({
      kind: 'invalid',
      reason: 'invalid Grip-Sig: algorithm not accepted',
    });
  });

  it('verify-iss: wrong or missing iss → invalid; right iss → proxied', async () => {
    const s = settings('http://127.0.0.1:5561?key=k&verify-iss=my-pushpin');
    expect(
      await checkGripRequest(req({ 'grip-sig': hs256({ iss: 'pushpin', exp: now() + 60 }, 'k') }), s),
    ).toEqual({
      kind: 'invalid',
      reason: 'invalid Grip-Sig: unexpected issuer',
    });
    expect((await checkGripRequest(req({ 'grip-sig': hs256({ exp: now() + 60 }, 'k') }), s)).kind).toBe(
      'invalid',
    );
    expect(
      (await checkGripRequest(req({ 'grip-sig': hs256({ iss: 'my-pushpin', exp: now() + 60 }, 'k') }), s))
        .kind,
    ).toBe('proxied');
  });

  it('base64: keys verify with the decoded bytes', async () => {
    const secret = Buffer.from('a9f1c0de5577aa00ff11223344556677', 'hex');
    const s = settings(`http://127.0.0.1:5561?key=base64:${encodeURIComponent(secret.toString('base64'))}`);
    expect((await checkGripRequest(req({ 'grip-sig': hs256({ exp: now() + 60 }, secret) }), s)).kind).toBe(
      'proxied',
    );
    expect(
      (await checkGripRequest(req({ 'grip-sig': hs256({ exp: now() + 60 }, secret.toString('base64')) }), s))
        .kind,
    ).toBe('invalid');
  });

  it('no verify key configured → Grip-Sig is not trusted: direct', async () => {
    const s = settings('http://127.0.0.1:5561');
    expect(await checkGripRequest(req({ 'grip-sig': 'anything' }), s)).toEqual({ kind: 'direct' });
  });

  it('several proxies: valid for any of them → proxied', async () => {
    const s = settings([
      'http://127.0.0.1:5561?key=one',
      'http://127.0.0.1:5562?key=two',
      'http://127.0.0.1:5563',
    ]);
    expect((await checkGripRequest(req({ 'grip-sig': hs256({ exp: now() + 60 }, 'two') }), s)).kind).toBe(
      'proxied',
    );
    expect(await checkGripRequest(req({ 'grip-sig': hs256({ exp: now() + 60 }, 'three') }), s)).toEqual({
      kind: 'invalid',
      reason: 'invalid Grip-Sig: signature does not verify',
    });
    // The most telling reason wins: "expired" from the key that matched.
    expect(await checkGripRequest(req({ 'grip-sig': hs256({ exp: now() - 5 }, 'two') }), s)).toEqual({
      kind: 'invalid',
      reason: 'invalid Grip-Sig: expired',
    });
  });
});

describe('checkGripRequest: ES256 (Fastly Fanout style)', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const jwk = JSON.stringify(publicKey.export({ format: 'jwk' }));

  for (const [name, verifyKey] of [
    ['PEM', pem],
    ['JWK', jwk],
  ] as const) {
    it(`verifies with a ${name} public key and checks iss`, async () => {
      const s = settings({
        controlUri: 'https://api.example/service/S',
        key: 'token',
        verifyKey,
        verifyIss: 'fastly:S',
      });
      const good = await es256({ iss: 'fastly:S', exp: now() + 60 }, privateKey);
      expect(await checkGripRequest(req({ 'grip-sig': good }), s)).toEqual({ kind: 'proxied' });
      const wrongKey = await es256({ iss: 'fastly:S', exp: now() + 60 }, other.privateKey);
      expect(await checkGripRequest(req({ 'grip-sig': wrongKey }), s)).toEqual({
        kind: 'invalid',
        reason: 'invalid Grip-Sig: signature does not verify',
      });
      const wrongIss = await es256({ iss: 'fastly:T', exp: now() + 60 }, privateKey);
      expect((await checkGripRequest(req({ 'grip-sig': wrongIss }), s)).kind).toBe('invalid');
      const expired = await es256({ iss: 'fastly:S', exp: now() - 60 }, privateKey);
      expect((await checkGripRequest(req({ 'grip-sig': expired }), s)).kind).toBe('invalid');
      // An HS256 token "signed" with the public key text must not pass (algorithm confusion).
      expect(
        (
          await checkGripRequest(
            req({ 'grip-sig': hs256({ iss: 'fastly:S', exp: now() + 60 }, verifyKey) }),
            s,
          )
        ).kind,
      ).toBe('invalid');
    });
  }

  it('a Fastly URL with only the API token rejects tokens not signed by Fastly', async () => {
    const s = settings('https://api.fastly.com/service/S?key=TOKEN');
    const own = await es256({ iss: 'fastly:S', exp: now() + 60 }, privateKey);
    expect((await checkGripRequest(req({ 'grip-sig': own }), s)).kind).toBe('invalid');
    // The API token is not a Grip-Sig key.
    expect(
      (await checkGripRequest(req({ 'grip-sig': hs256({ iss: 'fastly:S', exp: now() + 60 }, 'TOKEN') }), s))
        .kind,
    ).toBe('invalid');
  });
});
