import { createPublicKey, type KeyObject, type JsonWebKey as NodeJsonWebKey } from 'node:crypto';
import { GripConfigError } from './errors.js';

/** A key that verifies `Grip-Sig`, decoded once at configuration time. */
export type VerifyKeyMaterial =
  | { readonly kind: 'secret'; readonly bytes: Uint8Array; readonly alg: 'HS256' }
  | { readonly kind: 'public'; readonly jwk: NodeJsonWebKey; readonly alg: string };

/** Fastly Fanout signs `Grip-Sig` with ES256; this is its published public key (JWK). */
export const FASTLY_FANOUT_PUBLIC_JWK = Object.freeze({
  kty: 'EC',
  crv: 'P-256',
  x: 'CKo5A1ebyFcnmVV8SE5On-8G81JyBjSvcrx4VLetWCg',
  y: '7gwJqaU6N8TP88--twjkwoB36f-pT3QsmI46nPhjO7M',
});

const PEM_BEGIN = '-----BEGIN';

/** True when a key string is a PEM block or a JSON Web Key rather than a shared secret. */
export function looksAsymmetric(key: string | Uint8Array): boolean {
  const text = typeof key === 'string' ? key : bytesAsText(key);
  if (text === undefined) return false;
  const t = text.trimStart();
  return t.startsWith(PEM_BEGIN) || (t.startsWith('{') && !isOctJwk(t));
}

/**
 * Decodes a shared secret: `base64:<b64>` is binary, any other string is its UTF-8 bytes (like
 * Pushpin's `sig_key`), bytes are used as they are.
 */
export function decodeSecret(key: string | Uint8Array, what: string): Uint8Array {
  let bytes: Uint8Array;
  if (typeof key !== 'string') {
    bytes = new Uint8Array(key);
  } else if (key.startsWith('base64:')) {
    // A '+' left unencoded in a URL query arrives as a space; base64 has no spaces.
    const b64 = key.slice('base64:'.length).replace(/ /g, '+');
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(b64))
      throw new GripConfigError(`${what} is not valid base64 after 'base64:'`);
    bytes = new Uint8Array(Buffer.from(b64, 'base64'));
  } else {
    bytes = new Uint8Array(Buffer.from(key, 'utf8'));
  }
  if (bytes.length === 0) throw new GripConfigError(`${what} must not be empty`);
  return bytes;
}

/**
 * Decodes a `Grip-Sig` verify key: a shared secret (string, `base64:`, bytes, or an `oct` JWK) for
 * HS256, or a public key (PEM: SPKI, certificate, or a private key whose public half is used; or a
 * JWK as an object or JSON text) whose type decides the algorithm (EC P-256 → ES256, …).
 */
export function decodeVerifyKey(key: string | Uint8Array | object, what = 'verifyKey'): VerifyKeyMaterial {
  if (typeof key === 'object' && !(key instanceof Uint8Array))
    return fromJwk(key as Record<string, unknown>, what);
  const text = typeof key === 'string' ? key : bytesAsText(key);
  const trimmed = text?.trim();
  if (trimmed?.startsWith(PEM_BEGIN)) return fromPem(trimmed, what);
  if (trimmed?.startsWith('{')) {
    let jwk: unknown;
    try {
      jwk = JSON.parse(trimmed);
    } catch (cause) {
      throw new GripConfigError(`${what} looks like JSON but does not parse as a JWK`, { cause });
    }
    if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) {
      throw new GripConfigError(`${what} must be a JWK object`);
    }
    return fromJwk(jwk as Record<string, unknown>, what);
  }
  return { kind: 'secret', bytes: decodeSecret(key as string | Uint8Array, what), alg: 'HS256' };
}

function bytesAsText(bytes: Uint8Array): string | undefined {
  // Only PEM/JSON detection needs text; a random binary secret must not be mistaken for either.
  const text = Buffer.from(bytes).toString('utf8');
  const t = text.trimStart();
  return t.startsWith(PEM_BEGIN) || t.startsWith('{') ? text : undefined;
}

function isOctJwk(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && (v as Record<string, unknown>).kty === 'oct';
  } catch {
    return false;
  }
}

function fromPem(pem: string, what: string): VerifyKeyMaterial {
  // Form-encoded URLs turn the spaces of "-----BEGIN PUBLIC KEY-----" into '+'.
  const fixed = pem.replace(/-----(BEGIN|END)[^-]*-----/g, (m) => m.replace(/\+/g, ' '));
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey(fixed);
  } catch (cause) {
    throw new GripConfigError(`${what} is not a usable PEM key: ${(cause as Error).message}`, { cause });
  }
  return fromKeyObject(keyObject, what);
}

function fromJwk(jwk: Record<string, unknown>, what: string): VerifyKeyMaterial {
  if (jwk.kty === 'oct') {
    if (typeof jwk.k !== 'string') throw new GripConfigError(`${what}: an 'oct' JWK needs a string 'k'`);
    const bytes = new Uint8Array(Buffer.from(jwk.k, 'base64url'));
    if (bytes.length === 0) throw new GripConfigError(`${what} must not be empty`);
    return { kind: 'secret', bytes, alg: 'HS256' };
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: jwk as NodeJsonWebKey, format: 'jwk' });
  } catch (cause) {
    throw new GripConfigError(`${what} is not a usable JWK: ${(cause as Error).message}`, { cause });
  }
  return fromKeyObject(keyObject, what);
}

function fromKeyObject(keyObject: KeyObject, what: string): VerifyKeyMaterial {
  // Export only the public half, so a private key given by mistake never travels further.
  const jwk = keyObject.export({ format: 'jwk' });
  const alg = algorithmFor(jwk);
  if (alg === undefined) {
    throw new GripConfigError(
      `${what}: unsupported key type ${String(jwk.kty)}${jwk.crv ? ` ${String(jwk.crv)}` : ''} (use EC P-256/P-384/P-521, RSA or Ed25519)`,
    );
  }
  return { kind: 'public', jwk, alg };
}

function algorithmFor(jwk: NodeJsonWebKey): string | undefined {
  if (jwk.kty === 'EC') {
    if (jwk.crv === 'P-256') return 'ES256';
    if (jwk.crv === 'P-384') return 'ES384';
    if (jwk.crv === 'P-521') return 'ES512';
    return undefined;
  }
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return undefined;
}
