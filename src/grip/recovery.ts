// GRIP reliable mode: the recovery link Pushpin fetches when it sees a gap (or the stream idles),
// and the Grip-Last positions it sends. Pushpin's recovery requests carry no client cookies or
// auth, so the subscription (channels) travels in the link itself, signed so it cannot be forged.
// A link is only honoured on a request the proxy made itself (Grip-Sig plus Grip-Last, which
// Pushpin strips from client requests) and only while `authorize` still allows its channels.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
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

/** `<base64url JSON {c, exp}>.<base64url HMAC-SHA256>` */
export function signRecoveryToken(
  channels: readonly string[],
  secret: Uint8Array | string,
  ttlSec: number,
  nowMs: number = Date.now(),
): string {
  const payload = Buffer.from(
    JSON.stringify({ c: channels, exp: Math.floor(nowMs / 1000) + ttlSec }),
  ).toString('base64url');
  return `${payload}.${mac(secret, payload).toString('base64url')}`;
}

/** The channels of a valid, unexpired token; undefined otherwise. Never throws. */
export function verifyRecoveryToken(
  token: string,
  secret: Uint8Array | string,
  nowMs: number = Date.now(),
): string[] | undefined {
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
    };
    if (typeof state.exp !== 'number' || state.exp * 1000 < nowMs) return undefined;
    if (!Array.isArray(state.c) || !state.c.every((c) => typeof c === 'string')) return undefined;
    return state.c as string[];
  } catch {
    return undefined;
  }
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
