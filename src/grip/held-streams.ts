// Streams a proxy holds never reach our connection table, so revocation and token expiry reach
// them through the proxy: each hold of a stream opened with a token also subscribes it to private
// channels (its subject, its token id, the second its token expires), and a revocation or an
// expiry publishes the closing text and a `close` action there. Only held streams of that subject,
// token or second are on such a channel: other users' streams stay open.
import { createHash } from 'node:crypto';
import type { StreamIdentity } from '../base/types.js';
import { gripChannelName } from './channel.js';

/** What a revocation or an expiry closes: a subject, a token id, a data channel or an expiry second. */
export interface HeldSelector {
  readonly sub?: string | null;
  readonly tokenId?: string | null;
  readonly channel?: string | null;
  /** Streams whose token expires in this second (Unix seconds). */
  readonly expiresSec?: number;
}

/**
 * `%!` never starts an escape of `gripChannelName` (whose `%` is always followed by two hex
 * digits), so no data channel, whatever its name, shares a wire name with a private channel. The
 * subject and token id are hashed: fixed length, and not readable in the proxy's logs.
 */
function privateName(prefix: string, kind: 'sub' | 'tok' | 'exp', value: string): string {
  const text =
    kind === 'exp' ? value : createHash('sha256').update(value, 'utf8').digest('base64url').slice(0, 22);
  return `${gripChannelName(prefix, '')}%!${kind}-${text}`;
}

/** The private channels a hold of a stream with `identity` subscribes to, in their wire form. */
export function identityChannels(prefix: string, identity: StreamIdentity | undefined): string[] {
  if (identity === undefined) return [];
  const names = [privateName(prefix, 'exp', String(expirySecond(identity.expiresAt)))];
  if (identity.sub !== undefined) names.push(privateName(prefix, 'sub', identity.sub));
  if (identity.tokenId !== undefined) names.push(privateName(prefix, 'tok', identity.tokenId));
  return names;
}

/** The second (Unix time) in which a token expiring at `expiresAt` ms does. */
export function expirySecond(expiresAt: number): number {
  return Math.ceil(expiresAt / 1000);
}

/**
 * The one channel whose held streams a selector closes: its token id, else its subject, else its
 * data channel. The proxy cannot match several fields at once, so a selector of several closes a
 * superset (see `closeBody`).
 */
export function selectedChannel(prefix: string, selector: HeldSelector): string {
  if (selector.expiresSec !== undefined) return privateName(prefix, 'exp', String(selector.expiresSec));
  if (selector.tokenId != null) return privateName(prefix, 'tok', selector.tokenId);
  if (selector.sub != null) return privateName(prefix, 'sub', selector.sub);
  if (selector.channel != null) return gripChannelName(prefix, selector.channel);
  throw new TypeError('a held-stream selector names at least one field');
}

/** Whether `selectedChannel` holds exactly the selected streams (one field). */
export function isExact(selector: HeldSelector): boolean {
  if (selector.expiresSec !== undefined) return true;
  return [selector.sub, selector.tokenId, selector.channel].filter((f) => f != null).length === 1;
}

/**
 * A publish body: `text` (why, when every stream on `channel` is concerned) on `channel`, then
 * `close`. Without a text the client just reconnects: the request decision then refuses the
 * revoked ones with their `stream-error`, and the others resume where they were.
 */
export function closeBody(channel: string, text: string | undefined): { text: string; items: number } {
  const items: object[] = [{ channel, formats: { 'http-stream': { action: 'close' } } }];
  if (text !== undefined) items.unshift({ channel, formats: { 'http-stream': { content: text } } });
  return { text: JSON.stringify({ items }), items: items.length };
}
