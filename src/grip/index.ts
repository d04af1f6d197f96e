// CONTRACT STUB — to be implemented (GRIP issue). The core calls exactly these functions.
import type { EventSink, HttpRequest } from '../types.js';

/** Object form of one proxy's configuration (see README "Scaling with Pushpin"). */
export interface GripProxyOptions {
  /** Publish endpoint base, e.g. `http://127.0.0.1:5561` (`/publish/` is appended). */
  controlUri: string;
  /** Publish auth: JWT issuer (with `key`: Bearer JWT), else `key` is sent as a literal Bearer token. */
  controlIss?: string;
  /** Publish key; also the Grip-Sig verify key when symmetric and `verifyKey` is absent (see docs). */
  key?: string | Uint8Array;
  /** Expected `iss` of `Grip-Sig`. */
  verifyIss?: string;
  /** Key that verifies `Grip-Sig` (string, `base64:…`, PEM, JWK JSON, bytes). */
  verifyKey?: string | Uint8Array;
  user?: string;
  pass?: string;
}

/** What `grip` accepts on `events()` and `express()`: GRIP_URL string(s) or object(s). */
export type GripOption = string | GripProxyOptions | ReadonlyArray<string | GripProxyOptions>;

/** Parsed, validated GRIP configuration. */
export interface GripSettings {
  readonly proxies: readonly GripProxyOptions[];
}

/** Retry policy for publishing to proxies. */
export interface GripRetryOptions {
  retries?: number;
  minDelayMs?: number;
  maxDelayMs?: number;
}

/** Parse `grip` (throws a typed error on bad input); undefined/empty → undefined (GRIP off). */
export function resolveGrip(_option: GripOption | undefined | null): GripSettings | undefined {
  return undefined;
}

/** Outcome of inspecting a request for GRIP proxying. */
export type GripRequestCheck =
  | { readonly kind: 'direct' }
  | { readonly kind: 'proxied' }
  | { readonly kind: 'invalid'; readonly reason: string };

/** Decide whether `req` came through a GRIP proxy, verifying `Grip-Sig`. */
export async function checkGripRequest(_req: HttpRequest, _settings: GripSettings): Promise<GripRequestCheck> {
  return { kind: 'direct' };
}

/** Response headers that tell the proxy to hold the stream on `channels`. */
export function holdHeaders(_input: {
  channels: readonly string[];
  prefix: string;
  /** The exact keep-alive bytes direct clients get, and the silence in ms before it is sent. */
  keepAlive: { text: string; intervalMs: number } | undefined;
}): Record<string, string> {
  return {};
}

/** The sink that publishes each tick's batch to every proxy (one request per proxy per batch). */
export function createGripSink(
  _settings: GripSettings,
  _options: { prefix: string; retry?: GripRetryOptions },
): EventSink {
  return { publish: async () => {} };
}
