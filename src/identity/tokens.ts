// Subscriber tokens: the built-in `authorize`. A JWT read from a cookie, the Authorization header
// or a query parameter is verified (signature, `exp` always required, audience, issuer, a bounded
// lifetime), and its claims say who the subscriber is (`sub`, `jti`) and which channels it may
// open (patterns, `{sub}` for its own). The token itself is never kept or logged: only claims.
import { InvalidOptionError } from '../base/errors.js';
import { assertKnownKeys, integerOption } from '../base/option-checks.js';
import type { StreamIdentity } from '../base/types.js';
import { type Jose, loadJose } from '../grip/jose.js';
import type { RequestView } from '../protocol/request-view.js';
import { type Candidate, KeyRing, type TokenKey } from './keys.js';
import { type Grant, grantsOf, patternText } from './patterns.js';
import { MAX_TOKEN_LENGTH, readToken, type TokenSource, tokenReaders } from './token-source.js';

/** Options of `tokens()`. */
export interface TokenOptions {
  /** Verification keys (several for rotation): secrets, public keys, JWKS URLs. */
  keys: readonly TokenKey[];
  /** Accepted `aud` value(s); tokens without a matching `aud` are refused. */
  audience?: string | readonly string[];
  /** Accepted `iss` value(s). */
  issuer?: string | readonly string[];
  /** Clock skew allowed on `exp`, `nbf` and `iat`, in seconds (default 5, at most 300). */
  clockToleranceSec?: number;
  /** Where the token is read, first match wins (default `['header', 'cookie:token']`). */
  from?: readonly TokenSource[];
  /** The claim naming the channel patterns a token grants (default `channels`). */
  channelsClaim?: string;
  /**
   * Longest accepted token lifetime (`exp` - `iat`, or `exp` - now without `iat`), in seconds
   * (default 86400, the longest a revocation is kept): a longer-lived token is refused.
   */
  maxLifetimeSec?: number;
}

/** Why a request's token was refused: `unauthorized` (401) or `token-expired` (401). */
export type TokenRefusal = { readonly condition: 'unauthorized' | 'token-expired'; readonly text: string };

/** The outcome of verifying a token. */
export type TokenCheck =
  | { readonly ok: true; readonly identity: StreamIdentity }
  | ({ readonly ok: false } & TokenRefusal);

const OPTION_KEYS = [
  'keys',
  'audience',
  'issuer',
  'clockToleranceSec',
  'from',
  'channelsClaim',
  'maxLifetimeSec',
] as const satisfies ReadonlyArray<keyof TokenOptions>;
const MAX_ID_LENGTH = 512;
/** The grants of each identity this module made: the patterns split once, `{sub}` replaced. */
const grantsByIdentity = new WeakMap<StreamIdentity, readonly Grant[]>();

/** The grants of an identity from `tokens()` (none for any other object). */
export function grantsOfIdentity(identity: StreamIdentity): readonly Grant[] {
  return grantsByIdentity.get(identity) ?? [];
}

/**
 * Verifies subscriber tokens; give it as a handler's `authorize` (`authorize: tokens({ keys })`).
 * Create one with `tokens()`.
 */
export class TokenAuthorizer {
  readonly #keys: KeyRing;
  readonly #readers: ReturnType<typeof tokenReaders>;
  readonly #audience: string[] | undefined;
  readonly #issuer: string[] | undefined;
  readonly #toleranceSec: number;
  readonly #claim: string;
  readonly #maxLifetimeSec: number;

  /** @internal Use `tokens()`. */
  constructor(options: TokenOptions) {
    if (options === null || typeof options !== 'object')
      throw new InvalidOptionError('options', 'tokens() takes an object like { keys }');
    assertKnownKeys(options, OPTION_KEYS);
    this.#keys = new KeyRing(options.keys);
    this.#readers = tokenReaders(options.from);
    this.#audience = names('audience', options.audience);
    this.#issuer = names('issuer', options.issuer);
    this.#toleranceSec = integerOption(
      'clockToleranceSec',
      options.clockToleranceSec,
      { min: 0, max: 300 },
      5,
    );
    this.#maxLifetimeSec = integerOption(
      'maxLifetimeSec',
      options.maxLifetimeSec,
      { min: 1, max: 86_400 },
      86_400,
    );
    const claim = options.channelsClaim ?? 'channels';
    if (typeof claim !== 'string' || claim === '')
      throw new InvalidOptionError('channelsClaim', 'channelsClaim must be a non-empty string');
    this.#claim = claim;
  }

  /** @internal The request's token, verified; `unauthorized` when it carries none. */
  identify(view: RequestView): Promise<TokenCheck> {
    const token = readToken(this.#readers, view);
    if (token === undefined) return Promise.resolve(refused('unauthorized', 'no subscriber token'));
    return this.verify(token);
  }

  /** Verify a token as a request's would be (for apps checking one themselves). */
  async verify(token: string): Promise<TokenCheck> {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH)
      return refused('unauthorized', 'the token is malformed');
    const jose = await loadJose();
    let header: { alg?: unknown; kid?: unknown };
    try {
      header = jose.decodeProtectedHeader(token);
    } catch {
      return refused('unauthorized', 'the token is malformed');
    }
    const { alg, kid } = header;
    if (typeof alg !== 'string' || !this.#keys.algorithms.has(alg))
      return refused('unauthorized', `the token's algorithm is not accepted`);
    const candidates = this.#keys.for(alg, typeof kid === 'string' ? kid : undefined);
    for (const candidate of candidates) {
      const outcome = await this.#tryKey(jose, token, alg, candidate);
      if (outcome !== 'next') return outcome;
    }
    return refused('unauthorized', 'no key verifies the token');
  }

  async #tryKey(jose: Jose, token: string, alg: string, candidate: Candidate): Promise<TokenCheck | 'next'> {
    let payload: Record<string, unknown>;
    try {
      const key = await candidate.key(jose);
      ({ payload } = await jose.jwtVerify(token, key as Uint8Array, {
        algorithms: [alg],
        ...(this.#audience && { audience: this.#audience }),
        ...(this.#issuer && { issuer: this.#issuer }),
        clockTolerance: this.#toleranceSec,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      return classify(err);
    }
    return this.#identityOf(payload);
  }

  #identityOf(payload: Record<string, unknown>): TokenCheck {
    const { sub, jti, exp, iat } = payload;
    if (sub !== undefined && (typeof sub !== 'string' || sub === '' || sub.length > MAX_ID_LENGTH))
      return refused(
        'unauthorized',
        `the token's sub must be a string of at most ${MAX_ID_LENGTH} characters`,
      );
    if (jti !== undefined && (typeof jti !== 'string' || jti === '' || jti.length > MAX_ID_LENGTH))
      return refused(
        'unauthorized',
        `the token's jti must be a string of at most ${MAX_ID_LENGTH} characters`,
      );
    const from = typeof iat === 'number' ? iat : Date.now() / 1000;
    if ((exp as number) - from > this.#maxLifetimeSec)
      return refused('unauthorized', 'the token lives longer than maxLifetimeSec');
    const grants = grantsOf(payload[this.#claim], sub);
    if (typeof grants === 'string') return refused('unauthorized', `the token is refused: ${grants}`);
    const identity: StreamIdentity = Object.freeze({
      sub,
      tokenId: jti,
      expiresAt: (exp as number) * 1000,
      channels: Object.freeze(grants.map(patternText)),
      claims: Object.freeze({ ...payload }),
    });
    grantsByIdentity.set(identity, grants);
    return { ok: true, identity };
  }
}

/**
 * The built-in `authorize` for subscriber tokens (JWT): `express({ events, authorize: tokens({
 * keys: [{ secret }], audience: 'events' }) })`. A stream opens only when the request carries a
 * valid token whose channels claim allows every requested channel; it ends at the token's `exp`.
 */
export function tokens(options: TokenOptions): TokenAuthorizer {
  return new TokenAuthorizer(options);
}

function refused(condition: TokenRefusal['condition'], text: string): TokenCheck {
  return { ok: false, condition, text };
}

/** A verification failure, by jose's error code; 'next' when another key may still verify it. */
function classify(err: unknown): TokenCheck | 'next' {
  const { code, claim } = (err ?? {}) as { code?: unknown; claim?: unknown };
  switch (code) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'next';
    case 'ERR_JWT_EXPIRED':
      return refused('token-expired', 'the token expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'aud') return refused('unauthorized', `the token's audience is not accepted`);
      if (claim === 'iss') return refused('unauthorized', `the token's issuer is not accepted`);
      if (claim === 'nbf') return refused('unauthorized', 'the token is not valid yet');
      if (claim === 'exp') return refused('unauthorized', 'the token has no exp');
      return refused(
        'unauthorized',
        `the token's ${typeof claim === 'string' ? claim.slice(0, 20) : ''} claim is invalid`,
      );
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return refused('unauthorized', 'the token is malformed');
    default:
      // The key service failed (a JWKS fetch), not the token: the request fails, and is reported.
      throw err;
  }
}

function names(option: 'audience' | 'issuer', value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string' && v !== ''))
    throw new InvalidOptionError(option, `${option} must be a non-empty string or array of strings`);
  return [...list];
}
