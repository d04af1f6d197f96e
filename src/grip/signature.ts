import { loadJose } from './jose.js';
import type { VerifyKeyMaterial } from './keys.js';

/** One way a `Grip-Sig` may be valid: a key, and the issuer to require (if any). */
export interface SigVerifier {
  readonly key: VerifyKeyMaterial;
  readonly iss: string | undefined;
}

export type SigResult =
  | { readonly ok: true; readonly exp: number }
  | { readonly ok: false; readonly reason: string };

type VerifyKey = Awaited<ReturnType<Awaited<ReturnType<typeof loadJose>>['importJWK']>>;
const importedKeys = new WeakMap<VerifyKeyMaterial, Promise<VerifyKey>>();

function keyFor(material: VerifyKeyMaterial): Promise<VerifyKey> {
  let p = importedKeys.get(material);
  if (p === undefined) {
    p =
      material.kind === 'secret'
        ? Promise.resolve(material.bytes)
        : loadJose().then((jose) => jose.importJWK(material.jwk, material.alg));
    importedKeys.set(material, p);
  }
  return p;
}

// Lower rank = more informative. A token whose signature checks out but whose claims fail says
// more than "bad signature" from a verifier with a different key.
const RANK = { claims: 0, signature: 1, algorithm: 2, malformed: 3 } as const;

/**
 * Verifies a `Grip-Sig` JWT against each verifier until one accepts it. Requires a numeric `exp`
 * in the future, and `iss` when the verifier names one. The reason never includes key material
 * or the expected issuer: it is sent to the client in a 403.
 */
export async function verifyGripSig(token: string, verifiers: readonly SigVerifier[]): Promise<SigResult> {
  const jose = await loadJose();
  let best: { rank: number; reason: string } = { rank: 99, reason: 'invalid Grip-Sig' };
  for (const v of verifiers) {
    try {
      const key = await keyFor(v.key);
      const { payload } = await jose.jwtVerify(token, key, {
        algorithms: [v.key.alg],
        requiredClaims: ['exp'],
        ...(v.iss === undefined ? {} : { issuer: v.iss }),
      });
      return { ok: true, exp: payload.exp as number };
    } catch (err) {
      const failure = classify(err);
      if (failure.rank < best.rank) best = failure;
    }
  }
  return { ok: false, reason: best.reason };
}

function classify(err: unknown): { rank: number; reason: string } {
  const code = (err as { code?: unknown } | null)?.code;
  const claim = (err as { claim?: unknown } | null)?.claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return { rank: RANK.claims, reason: 'invalid Grip-Sig: expired' };
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'exp')
        return { rank: RANK.claims, reason: 'invalid Grip-Sig: missing or malformed exp claim' };
      if (claim === 'iss') return { rank: RANK.claims, reason: 'invalid Grip-Sig: unexpected issuer' };
      return { rank: RANK.claims, reason: `invalid Grip-Sig: bad ${String(claim)} claim` };
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return { rank: RANK.signature, reason: 'invalid Grip-Sig: signature does not verify' };
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return { rank: RANK.algorithm, reason: 'invalid Grip-Sig: algorithm not accepted' };
    default:
      return { rank: RANK.malformed, reason: 'invalid Grip-Sig: malformed token' };
  }
}
