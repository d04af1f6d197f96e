import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EventStreamError } from '../../src/base/errors.js';
import { GripConfigError } from '../../src/grip/errors.js';
import { parseGripUrl, resolvedProxies, resolveGrip } from '../../src/grip/grip-url.js';
import { FASTLY_FANOUT_PUBLIC_JWK } from '../../src/grip/keys.js';

function configError(fn: () => unknown): GripConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GripConfigError);
    expect(err).toBeInstanceOf(EventStreamError);
    expect((err as GripConfigError).code).toBe('ERR_GRIP_CONFIG');
    return err as GripConfigError;
  }
  throw new Error('expected a GripConfigError');
}

describe('parseGripUrl (js-grip v4 semantics)', () => {
  it('takes key and strips it from the control URI', () => {
    expect(parseGripUrl('http://127.0.0.1:5561?key=changeme')).toEqual({
      controlUri: 'http://127.0.0.1:5561',
      key: 'changeme',
    });
  });

  it('reads iss, verify-iss and verify-key, and drops a trailing slash', () => {
    expect(
      parseGripUrl('https://proxy.example/realm/r1/?iss=r1&key=k&verify-iss=pushpin&verify-key=v'),
    ).toEqual({
      controlUri: 'https://proxy.example/realm/r1',
      controlIss: 'r1',
      key: 'k',
      verifyIss: 'pushpin',
      verifyKey: 'v',
    });
  });

  it('keeps unknown query parameters in the control URI', () => {
    expect(parseGripUrl('http://127.0.0.1:5561/?key=k&extra=1').controlUri).toBe(
      'http://127.0.0.1:5561?extra=1',
    );
  });

  it('extracts user:pass for Basic auth and removes them from the URI', () => {
    expect(parseGripUrl('http://us%40r:p%3Ass@127.0.0.1:5561/')).toEqual({
      controlUri: 'http://127.0.0.1:5561',
      user: 'us@r',
      pass: 'p:ss',
    });
  });

  it('decodes %-escapes but keeps a literal + (base64 keys)', () => {
    expect(parseGripUrl('http://h?key=base64:ab+c%2Fd%3D%3D').key).toBe('base64:ab+c/d==');
  });

  it('parses a Fastly Fanout URL', () => {
    expect(parseGripUrl('https://api.fastly.com/service/SVC123?key=TOKEN&verify-iss=fastly:SVC123')).toEqual({
      controlUri: 'https://api.fastly.com/service/SVC123',
      key: 'TOKEN',
      verifyIss: 'fastly:SVC123',
    });
  });

  it('rejects non-URLs, other schemes and duplicate parameters, without leaking keys', () => {
    expect(configError(() => parseGripUrl('not a url?key=secret')).message).not.toContain('secret');
    expect(configError(() => parseGripUrl('ftp://h:1?key=secret')).message).not.toContain('secret');
    const dup = configError(() => parseGripUrl('http://h?key=secret1&key=secret2'));
    expect(dup.message).toMatch(/more than one 'key'/);
    expect(dup.message).not.toContain('secret1');
    expect(configError(() => parseGripUrl('http://h?key=%E0%A4%A')).message).toMatch(/%-escape/);
  });
});

describe('resolveGrip', () => {
  it('returns undefined (GRIP off) for nothing', () => {
    expect(resolveGrip(undefined)).toBeUndefined();
    expect(resolveGrip(null)).toBeUndefined();
    expect(resolveGrip('')).toBeUndefined();
    expect(resolveGrip([])).toBeUndefined();
    expect(resolveGrip(['  ', ''])).toBeUndefined();
  });

  it('uses a Pushpin-style key without iss as the Grip-Sig verify key (secure by default)', () => {
    const settings = resolveGrip('http://127.0.0.1:5561?key=changeme');
    expect(settings?.proxies).toEqual([
      { controlUri: 'http://127.0.0.1:5561', key: 'changeme', verifyKey: 'changeme' },
    ]);
    const [proxy] = resolvedProxies(settings!);
    expect(proxy?.publishUrl).toBe('http://127.0.0.1:5561/publish/');
    expect(proxy?.auth).toEqual({ kind: 'bearer', token: 'changeme' });
    expect(proxy?.verifier?.key.kind).toBe('secret');
    expect(proxy?.verifier?.iss).toBeUndefined();
  });

  it('iss + key: JWT publish auth, key verifies too', () => {
    const [proxy] = resolvedProxies(resolveGrip('http://h:1?iss=realm&key=base64:AAEC')!);
    expect(proxy?.auth).toEqual({ kind: 'jwt', iss: 'realm', secret: new Uint8Array([0, 1, 2]) });
    expect(proxy?.verifier?.key).toMatchObject({ kind: 'secret', bytes: new Uint8Array([0, 1, 2]) });
  });

  it('verify-key wins over key; verify-iss is required when given', () => {
    const [proxy] = resolvedProxies(resolveGrip('http://h:1?key=k&verify-key=other&verify-iss=pushpin')!);
    expect(proxy?.verifier?.key).toMatchObject({
      kind: 'secret',
      bytes: new Uint8Array(Buffer.from('other')),
    });
    expect(proxy?.verifier?.iss).toBe('pushpin');
  });

  it('no key at all: no verifier; Basic auth from user:pass', () => {
    const [proxy] = resolvedProxies(resolveGrip('http://u:p@h:1')!);
    expect(proxy?.verifier).toBeUndefined();
    expect(proxy?.auth).toEqual({ kind: 'basic', header: `Basic ${Buffer.from('u:p').toString('base64')}` });
    const [plain] = resolvedProxies(resolveGrip('http://h:1')!);
    expect(plain?.auth).toEqual({ kind: 'none' });
  });

  it('Fastly Fanout: token is a literal bearer, Fastly public key and fastly:<id> verify', () => {
    const settings = resolveGrip('https://api.fastly.com/service/SVC1?key=TOKEN');
    const [proxy] = resolvedProxies(settings!);
    expect(proxy?.publishUrl).toBe('https://api.fastly.com/service/SVC1/publish/');
    expect(proxy?.auth).toEqual({ kind: 'bearer', token: 'TOKEN' });
    expect(proxy?.verifier?.iss).toBe('fastly:SVC1');
    expect(proxy?.verifier?.key).toMatchObject({
      kind: 'public',
      alg: 'ES256',
      jwk: { ...FASTLY_FANOUT_PUBLIC_JWK },
    });
  });

  it('accepts arrays of URLs and objects, including snake_case names', () => {
    const settings = resolveGrip([
      'http://127.0.0.1:5561?key=a',
      { controlUri: 'http://127.0.0.1:5562/', key: 'b' },
      { control_uri: 'http://127.0.0.1:5563', control_iss: 'x', key: 'c' } as unknown as {
        controlUri: string;
      },
    ]);
    expect(settings?.proxies.map((p) => p.controlUri)).toEqual([
      'http://127.0.0.1:5561',
      'http://127.0.0.1:5562',
      'http://127.0.0.1:5563',
    ]);
    expect(settings?.proxies[2]?.controlIss).toBe('x');
    expect(resolvedProxies(settings!).map((p) => p.publishUrl)).toEqual([
      'http://127.0.0.1:5561/publish/',
      'http://127.0.0.1:5562/publish/',
      'http://127.0.0.1:5563/publish/',
    ]);
  });

  it('keeps extra query parameters after /publish/', () => {
    const [proxy] = resolvedProxies(resolveGrip('http://h:1/base/?key=k&x=1')!);
    expect(proxy?.publishUrl).toBe('http://h:1/base/publish/?x=1');
  });

  it('accepts PEM and JWK verify keys (objects, JSON text, bytes)', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const jwk = publicKey.export({ format: 'jwk' });
    const forms: unknown[] = [
      pem,
      Buffer.from(pem),
      JSON.stringify(jwk),
      jwk,
      privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    ];
    for (const verifyKey of forms) {
      const [proxy] = resolvedProxies(
        resolveGrip({ controlUri: 'http://h:1', verifyKey } as { controlUri: string })!,
      );
      expect(proxy?.verifier?.key).toMatchObject({
        kind: 'public',
        alg: 'ES256',
        jwk: { x: jwk.x, y: jwk.y },
      });
      expect(proxy?.verifier?.key).not.toHaveProperty('jwk.d');
    }
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    const [r] = resolvedProxies(resolveGrip({ controlUri: 'http://h:1', verifyKey: rsa.toString() })!);
    expect(r?.verifier?.key.alg).toBe('RS256');
  });

  it('accepts a PEM verify-key in a GRIP_URL even when form-encoded', () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const formEncoded = new URLSearchParams({ 'verify-key': pem }).toString();
    const [proxy] = resolvedProxies(resolveGrip(`http://h:1?${formEncoded}`)!);
    expect(proxy?.verifier?.key.alg).toBe('ES256');
  });

  it('rejects bad input with ERR_GRIP_CONFIG and a useful message', () => {
    expect(configError(() => resolveGrip(42 as unknown as string)).message).toMatch(
      /GRIP_URL string or an object/,
    );
    expect(configError(() => resolveGrip([null] as unknown as string[])).message).toMatch(/grip\[0\]/);
    expect(configError(() => resolveGrip({} as { controlUri: string })).message).toMatch(/controlUri/);
    expect(configError(() => resolveGrip({ controlUri: 'ws://h' })).message).toMatch(/http/);
    expect(configError(() => resolveGrip({ controlUri: 'http://u:p@h' })).message).toMatch(/user/);
    expect(configError(() => resolveGrip('http://h?key=base64:*notb64*')).message).toMatch(/base64/);
    expect(configError(() => resolveGrip('http://h?verify-iss=pushpin')).message).toMatch(/no key/);
    expect(configError(() => resolveGrip('http://h?verify-key=%7Bnot-json')).message).toMatch(/JWK/);
    expect(
      configError(() => resolveGrip('http://h?verify-key=-----BEGIN%20PUBLIC%20KEY-----xx')).message,
    ).toMatch(/PEM/);
    expect(
      configError(() => resolveGrip({ controlUri: 'http://h', key: 5 as unknown as string })).message,
    ).toMatch(/key must be/);
    const asym = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    expect(configError(() => resolveGrip({ controlUri: 'http://h', key: asym.toString() })).message).toMatch(
      /verifyKey/,
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ format: 'jwk' });
    expect(
      configError(() => resolveGrip({ controlUri: 'http://h', verifyKey: JSON.stringify(ec) })).message,
    ).toMatch(/unsupported key type/);
  });
});
