import type { GripRequestCheck } from '../protocol/grip-requests.js';
import type { RequestView } from '../protocol/request-view.js';
import { resolvedProxies } from './grip-url.js';
import { type SigVerifier, verifyGripSig } from './signature.js';
import type { GripSettings } from './types.js';

const DIRECT: GripRequestCheck = Object.freeze({ kind: 'direct' });
const PROXIED: GripRequestCheck = Object.freeze({ kind: 'proxied' });

/**
 * A proxy signs every request with the same token until it nears expiry (Pushpin: one token per
 * hour), so remembering verified tokens saves a signature check per connection. Bounded; entries
 * are dropped when their `exp` passes.
 */
const CACHE_MAX = 128;
interface Prepared {
  readonly verifiers: readonly SigVerifier[];
  readonly verified: Map<string, number>;
}
const prepared = new WeakMap<GripSettings, Prepared>();

function prepare(settings: GripSettings): Prepared {
  let p = prepared.get(settings);
  if (p === undefined) {
    const verifiers: SigVerifier[] = [];
    for (const proxy of resolvedProxies(settings)) if (proxy.verifier) verifiers.push(proxy.verifier);
    p = { verifiers, verified: new Map() };
    prepared.set(settings, p);
  }
  return p;
}

/** The first `Grip-Sig` value; Node joins repeated unknown headers with ", " and a JWT has no commas. */
function gripSigOf(view: RequestView): string | undefined {
  const first = view.header('grip-sig');
  if (first === undefined) return undefined;
  return (first.split(',')[0] ?? '').trim();
}

/**
 * Decides whether the request came through a GRIP proxy:
 *  - no `Grip-Sig` → `direct` (other `Grip-*` headers from a client are ignored);
 *  - `Grip-Sig` but no proxy has a verify key → `direct`: an unverifiable signature is never
 *    trusted, so a client cannot make the origin emit hold instructions by sending the header;
 *  - otherwise `proxied` when it verifies against any configured proxy, else `invalid` (→ 403).
 * Never rejects.
 */
export async function checkGripRequest(view: RequestView, settings: GripSettings): Promise<GripRequestCheck> {
  try {
    const token = gripSigOf(view);
    if (token === undefined) return DIRECT;
    const p = prepare(settings);
    if (p.verifiers.length === 0) return DIRECT;
    if (token === '') return { kind: 'invalid', reason: 'invalid Grip-Sig: empty' };

    const nowSec = Date.now() / 1000;
    const cachedExp = p.verified.get(token);
    if (cachedExp !== undefined) {
      if (cachedExp > nowSec) return PROXIED;
      p.verified.delete(token);
    }
    const result = await verifyGripSig(token, p.verifiers);
    if (!result.ok) return { kind: 'invalid', reason: result.reason };
    if (p.verified.size >= CACHE_MAX) {
      const oldest = p.verified.keys().next();
      if (!oldest.done) p.verified.delete(oldest.value);
    }
    p.verified.set(token, result.exp);
    return PROXIED;
  } catch {
    // Only a failure to load the JWT library gets here; refuse rather than trust.
    return { kind: 'invalid', reason: 'invalid Grip-Sig: verification unavailable' };
  }
}
