// The keys subscriber tokens are verified with. Shared secrets verify only HS256/384/512 tokens,
// public keys only their own asymmetric algorithm, so a token whose header names another algorithm
// than its key's (the classic HS256-signed-with-the-public-key confusion, or `alg: none`) finds no
// key at all. Several keys (and a JWKS URL, re-fetched by jose on an unknown `kid`) serve rotation.
import { InvalidOptionError } from '../base/errors.js';
import type { Jose } from '../grip/jose.js';

/** Asymmetric JWS algorithms a public key may be used with. */
export type AsymmetricAlgorithm =
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'
  | 'Ed25519';

/** A public key as a JSON Web Key. */
export interface PublicJwk {
  readonly kty: string;
  readonly [member: string]: unknown;
}

/**
 * A verification key: a shared secret (HS256/384/512, at least 32 bytes), a public key (PEM
 * SPKI text or a JWK) with its one algorithm, or the URL of a JWKS. `kid` narrows which tokens a
 * key is tried for (a token naming another `kid` skips it).
 */
export type TokenKey =
  | { readonly secret: string | Uint8Array; readonly kid?: string }
  | { readonly publicKey: string | PublicJwk; readonly alg: AsymmetricAlgorithm; readonly kid?: string }
  | { readonly jwksUrl: string };

const SECRET_ALGS = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC: ReadonlySet<string> = new Set<AsymmetricAlgorithm>([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);
const MIN_SECRET_BYTES = 32;

/** A key jose verifies with: bytes, an imported key, or a JWKS resolver. */
export type Verifiable = object;

/** One key, ready to be tried for tokens of `algs` naming `kid` (or none). */
export interface Candidate {
  readonly algs: readonly string[];
  readonly kid: string | undefined;
  key(jose: Jose): Promise<Verifiable>;
}

/** The keys of the `keys` option, checked now (so a misconfiguration fails at startup). */
export class KeyRing {
  readonly #candidates: Candidate[];
  /** Every algorithm some key verifies: a token naming another is refused before any key is tried. */
  readonly algorithms: ReadonlySet<string>;

  constructor(keys: unknown) {
    if (!Array.isArray(keys) || keys.length === 0)
      throw new InvalidOptionError(
        'keys',
        'keys must be a non-empty array of { secret }, { publicKey, alg } or { jwksUrl }',
      );
    this.#candidates = keys.map((key: unknown, index) => candidateOf(key, index));
    this.algorithms = new Set(this.#candidates.flatMap((c) => c.algs));
  }

  /** The keys to try for a token whose header names `alg` and `kid`. */
  for(alg: string, kid: string | undefined): Candidate[] {
    return this.#candidates.filter(
      (c) => c.algs.includes(alg) && (c.kid === undefined || kid === undefined || c.kid === kid),
    );
  }
}

function candidateOf(key: unknown, index: number): Candidate {
  const where = `keys[${index}]`;
  if (key === null || typeof key !== 'object')
    throw new InvalidOptionError('keys', `${where} must be { secret }, { publicKey, alg } or { jwksUrl }`);
  const { secret, publicKey, alg, kid, jwksUrl } = key as Record<string, unknown>;
  if (kid !== undefined && (typeof kid !== 'string' || kid === ''))
    throw new InvalidOptionError('keys', `${where}.kid must be a non-empty string`);
  if (secret !== undefined) {
    const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
    if (!(bytes instanceof Uint8Array) || bytes.length < MIN_SECRET_BYTES)
      throw new InvalidOptionError('keys', `${where}.secret must be at least ${MIN_SECRET_BYTES} bytes`);
    const copy = Uint8Array.from(bytes);
    return { algs: SECRET_ALGS, kid, key: () => Promise.resolve(copy) };
  }
  if (publicKey !== undefined) {
    if (typeof alg !== 'string' || !ASYMMETRIC.has(alg))
      throw new InvalidOptionError('keys', `${where}.alg must be one of ${[...ASYMMETRIC].join(', ')}`);
    const pem = typeof publicKey === 'string';
    if (pem ? !publicKey.includes('-----BEGIN PUBLIC KEY-----') : !isJwk(publicKey))
      throw new InvalidOptionError('keys', `${where}.publicKey must be PEM (SPKI) text or a public JWK`);
    if (!pem && 'd' in (publicKey as PublicJwk))
      throw new InvalidOptionError('keys', `${where}.publicKey is a private key: give its public part`);
    let imported: Promise<Verifiable> | undefined;
    return {
      algs: [alg],
      kid,
      key: (jose) => {
        imported ??= pem
          ? jose.importSPKI(publicKey, alg)
          : jose.importJWK({ ...(publicKey as PublicJwk) }, alg);
        return imported;
      },
    };
  }
  if (jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(String(jwksUrl));
    } catch {
      throw new InvalidOptionError('keys', `${where}.jwksUrl must be an absolute URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new InvalidOptionError('keys', `${where}.jwksUrl must be an http(s) URL`);
    let set: Verifiable | undefined;
    return {
      algs: [...ASYMMETRIC],
      kid: undefined,
      key: (jose) => {
        set ??= jose.createRemoteJWKSet(url);
        return Promise.resolve(set);
      },
    };
  }
  throw new InvalidOptionError('keys', `${where} must have secret, publicKey (with alg) or jwksUrl`);
}

function isJwk(value: unknown): value is PublicJwk {
  return value !== null && typeof value === 'object' && typeof (value as { kty?: unknown }).kty === 'string';
}
