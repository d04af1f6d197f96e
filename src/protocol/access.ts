// Who may open which stream, as the request decision sees it: the identity layer's verdicts
// (subscriber tokens, revocations), and the check a proxy's recovery request gets again.
import type { StreamIdentity } from '../base/types.js';
import type { RequestView } from './request-view.js';

/** Who may open which stream: subscriber tokens and revocations (`identity/`). */
export interface Access {
  /** The request's verified identity, or why it has none; absent: streams carry no identity. */
  identify?(
    view: RequestView,
  ): Promise<
    | { readonly ok: true; readonly identity: StreamIdentity }
    | { readonly ok: false; readonly condition: 'unauthorized' | 'token-expired'; readonly text: string }
  >;
  /**
   * Why a stream on `channels` is refused for `identity` (claims, revocations); undefined: it may
   * open. `granted`: the claims were checked when the stream opened (a recovery): revocations only.
   */
  admit(
    identity: StreamIdentity | undefined,
    channels: readonly string[],
    options?: { readonly granted?: boolean },
  ): Promise<{ readonly condition: 'forbidden' | 'revoked'; readonly text: string } | undefined>;
  /** A proxy holds a stream opened with `identity`: its token's expiry must reach the proxy too. */
  held?(identity: StreamIdentity): void;
}

/**
 * Whether a proxy's recovery request is still allowed: false, or the identity the next hold keeps
 * (true: none). A stream opened with a token carries its identity in the signed link (recovery
 * fetches bring no cookie or header): it must not have expired nor been revoked since. A link
 * without one is checked like a request (a query token is in the link's URL).
 */
export async function recoveryAccess(
  view: RequestView,
  access: Access,
  channels: readonly string[],
  linked: StreamIdentity | undefined,
): Promise<false | true | { identity: StreamIdentity }> {
  let identity = linked;
  if (identity !== undefined) {
    if (identity.expiresAt <= Date.now()) return false;
    if ((await access.admit(identity, channels, { granted: true })) !== undefined) return false;
    return { identity };
  }
  if (access.identify !== undefined) {
    const verified = await access.identify(view);
    if (!verified.ok) return false;
    identity = verified.identity;
  }
  if ((await access.admit(identity, channels)) !== undefined) return false;
  return identity === undefined ? true : { identity };
}
