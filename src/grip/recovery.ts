// GRIP reliable mode: the recovery link Pushpin fetches when it sees a gap (or the stream idles),
// and the Grip-Last positions it sends. Pushpin's recovery requests carry no client cookies or
// auth, so the subscription (channels) travels in the link itself, signed so it cannot be forged.
// A link is only honoured on a request the proxy made itself (Grip-Sig plus Grip-Last, which
// Pushpin strips from client requests) and only while `authorize` still allows its channels. A
// stream opened with a subscriber token carries its identity in the link too (sealed), so each
// recovery checks revocations and expiry and subscribes the private channels again.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RequestView } from '../protocol/request-view.js';
import { decodeGripChannelName } from './channel.js';

/** Query parameter carrying the signed recovery state. */
export const RECOVER_PARAM = 'es-recover';

export function randomRecoverySecret(): Buffer {
  return randomBytes(32);
}

function mac(secret: Uint8Array | string, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

/**
 * Who a held stream belongs to, as its recovery link carries it: Pushpin's recovery fetches bring
 * no cookie and no Authorization header, so the subject, token id and expiry of the token the
 * stream was opened with travel in the link (sealed: the proxy's logs show no subject).
 */
export interface LinkIdentity {
  readonly sub: string | undefined;
  readonly tokenId: string | undefined;
  /** When the token expires, ms since the epoch. */
  readonly expiresAt: number;
}

/** What a valid recovery link says: its channels, and the identity of a stream opened with a token. */
export interface RecoveryState {
  readonly channels: string[];
  readonly identity: LinkIdentity | undefined;
}

/** `<base64url JSON {c, exp, w?}>.<base64url HMAC-SHA256>`; `w` is the sealed identity. */
export function signRecoveryToken(
  channels: readonly string[],
  secret: Uint8Array | string,
  ttlSec: number,
  nowMs: number = Date.now(),
  identity?: LinkIdentity,
): string {
  const state: { c: readonly string[]; exp: number; w?: string } = {
    c: channels,
    exp: Math.floor(nowMs / 1000) + ttlSec,
  };
  if (identity !== undefined)
    state.w = seal(
      secret,
      JSON.stringify([identity.sub ?? null, identity.tokenId ?? null, identity.expiresAt]),
    );
  const payload = Buffer.from(JSON.stringify(state)).toString('base64url');
  return `${payload}.${mac(secret, payload).toString('base64url')}`;
}

/** The state of a valid, unexpired token; undefined otherwise. Never throws. */
export function verifyRecoveryToken(
  token: string,
  secret: Uint8Array | string,
  nowMs: number = Date.now(),
): RecoveryState | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0 || token.length > 8192) return undefined;
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = mac(secret, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const state = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      c?: unknown;
      exp?: unknown;
      w?: unknown;
    };
    if (typeof state.exp !== 'number' || state.exp * 1000 < nowMs) return undefined;
    if (!Array.isArray(state.c) || !state.c.every((c) => typeof c === 'string')) return undefined;
    if (state.w === undefined) return { channels: state.c as string[], identity: undefined };
    const identity = typeof state.w === 'string' ? identityOf(unseal(secret, state.w)) : undefined;
    return identity === undefined ? undefined : { channels: state.c as string[], identity };
  } catch {
    return undefined;
  }
}

/** A sealed identity read back: signed by us, still checked field by field. */
function identityOf(text: string | undefined): LinkIdentity | undefined {
  if (text === undefined) return undefined;
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || value.length !== 3) return undefined;
  const [sub, tokenId, expiresAt] = value as unknown[];
  const id = (x: unknown) => x === null || (typeof x === 'string' && x !== '' && x.length <= 512);
  if (!id(sub) || !id(tokenId) || typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))
    return undefined;
  return {
    sub: (sub as string | null) ?? undefined,
    tokenId: (tokenId as string | null) ?? undefined,
    expiresAt,
  };
}

// AES-256-GCM under a key derived from the reliable-mode secret: `<iv><ciphertext><tag>`, base64url.
function sealKey(secret: Uint8Array | string): Buffer {
  return createHmac('sha256', secret).update('express-eventstream recovery identity').digest();
}

function seal(secret: Uint8Array | string, text: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealKey(secret), iv);
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

function unseal(secret: Uint8Array | string, sealed: string): string | undefined {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < 12 + 16) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', sealKey(secret), bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString(
    'utf8',
  );
}

/**
 * How long a recovery link is honoured. Pushpin fetches it at least every `linkTimeoutSec` while
 * the stream idles and every answer carries a fresh link, so a few intervals are enough; a link
 * that expires on a busy stream ends that stream, and the client resumes with Last-Event-ID.
 */
export function linkLifetimeSec(linkTimeoutSec: number): number {
  return Math.max(30, 3 * linkTimeoutSec);
}

/** Whether the request carries `Grip-Last`: Pushpin sends it only on requests it makes itself. */
export function hasGripLast(view: RequestView): boolean {
  return view.header('grip-last') !== undefined;
}

/**
 * `Grip-Last: events-a; last-id=X` (one header per channel; Node joins repeats with ", ").
 * Names are in their wire form (`gripChannelName`). Returns last ids by unprefixed channel name;
 * channels without the prefix, or with malformed escapes, are ignored.
 */
export function parseGripLast(view: RequestView, prefix: string): Record<string, string> {
  const joined = view.header('grip-last') ?? '';
  const out: Record<string, string> = {};
  for (const part of joined.split(',')) {
    const [wire = '', ...params] = part.split(';').map((p) => p.trim());
    const name = decodeGripChannelName(wire);
    if (name === undefined || !name.startsWith(prefix)) continue;
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq !== -1 && param.slice(0, eq).trim() === 'last-id') {
        out[name.slice(prefix.length)] = param.slice(eq + 1).trim();
      }
    }
  }
  return out;
}

/**
 * The recovery link for a request: its own path and query (so `authorize` sees the same URL, e.g.
 * route parameters or a token in the query), with any earlier signed state replaced.
 */
export function recoveryLink(view: RequestView, token: string): string {
  const url = view.url || '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  query.delete(RECOVER_PARAM);
  query.append(RECOVER_PARAM, token);
  return `${path}?${query.toString()}`;
}
