// GRIP's request side, as the decision uses it: is this request from a proxy, is it a proxy's
// recovery fetch, what makes the proxy hold. Declared here, where the decision calls it, so the
// protocol needs nothing of GRIP; grip/plugin.ts implements it.
import type { StreamIdentity } from '../base/types.js';
import type { RequestView } from './request-view.js';

/** Outcome of inspecting a request for GRIP proxying. */
export type GripRequestCheck =
  | { readonly kind: 'direct' }
  | { readonly kind: 'proxied' }
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * A recovery fetch by the proxy: the signed channels, the last id it has of each and, for a stream
 * opened with a subscriber token, who it belongs to (subject, token id and expiry only: the grants
 * were checked when it opened, and its private channels are subscribed again from these).
 */
export type RecoveryRequest =
  | {
      readonly valid: true;
      readonly channels: string[];
      readonly positions: Record<string, string>;
      readonly identity: StreamIdentity | undefined;
    }
  | { readonly valid: false };

export interface GripRequests {
  /** `direct`, `proxied` (a verified proxy signed it), or `invalid` (→ 403). Never rejects. */
  check(view: RequestView): GripRequestCheck | Promise<GripRequestCheck>;
  /**
   * Reliable mode, on a proxied GET: the recovery the proxy asks for, or undefined when this is no
   * recovery fetch. A link is honoured only on a fetch by the proxy itself: signed by it and
   * carrying Grip-Last, which Pushpin adds to its link fetches and strips from clients; anything
   * else with `?es-recover=` is an ordinary request and the parameter is ignored.
   */
  recovery(view: RequestView): RecoveryRequest | undefined;
  /**
   * Headers that make the proxy hold the stream on `channels` (with `prev-id`s and a recovery link
   * in reliable mode), and, for a stream opened with a token, on the private channels through
   * which its revocation or expiry ends it.
   */
  holdHeaders(
    view: RequestView,
    channels: readonly string[],
    lastIds: Readonly<Record<string, string>> | undefined,
    identity?: StreamIdentity,
  ): Record<string, string>;
  /**
   * Why the proxy could not hold a stream on `channels` (with `identity`'s private channels) as
   * asked, or undefined: Pushpin subscribes a connection to at most 20 channels and silently drops
   * the rest, so a hold that needs more is refused rather than truncated.
   */
  holdProblem(channels: readonly string[], identity: StreamIdentity | undefined): string | undefined;
  /**
   * The body of a hold or recovery answer as the proxy must get it: in reliable mode it passes the
   * build-id filter, which would read `%` as a directive.
   */
  holdText(text: string): string;
}
