/** A JSON Web Key given as an object (e.g. Fastly's public key). */
export interface GripJsonWebKey {
  readonly kty: string;
  readonly [field: string]: unknown;
}

/** Object form of one proxy's configuration (see docs/grip.md, "Scaling with Pushpin"). */
export interface GripProxyOptions {
  /** Publish endpoint base, e.g. `http://127.0.0.1:5561` (`/publish/` is appended). */
  controlUri: string;
  /** Publish auth: JWT issuer (with `key`: Bearer JWT), else `key` is sent as a literal Bearer token. */
  controlIss?: string;
  /**
   * Publish key (a shared secret or an API token). Unless `verifyKey` is given, it also verifies
   * `Grip-Sig` (HS256) — also without `controlIss`, unlike js-grip; not for Fastly Fanout URLs.
   */
  key?: string | Uint8Array;
  /** Expected `iss` of `Grip-Sig`; checked only when given. */
  verifyIss?: string;
  /** Key that verifies `Grip-Sig`: a string, `base64:…`, PEM, JWK (JSON text or object), or bytes. */
  verifyKey?: string | Uint8Array | GripJsonWebKey;
  /** Basic auth for the publish API (used when there is no `key`). */
  user?: string;
  pass?: string;
}

/** What `grip` accepts on `events()` and `express()`: GRIP_URL string(s) or object(s). */
export type GripOption = string | GripProxyOptions | ReadonlyArray<string | GripProxyOptions>;

/** Parsed, validated GRIP configuration. */
export interface GripSettings {
  /** One entry per proxy, with defaults applied (e.g. the verify key derived from `key`). */
  readonly proxies: readonly GripProxyOptions[];
}

/** Retry policy for publishing to proxies. */
export interface GripRetryOptions {
  /** Retries after the first attempt (default 3). Network errors, timeouts, 5xx, 408 and 429 are retried. */
  retries?: number;
  /** Delay before the first retry in ms (default 250); doubles per retry, with jitter. */
  minDelayMs?: number;
  /** Upper bound of one delay in ms (default 5000). */
  maxDelayMs?: number;
  /** Timeout of one publish request in ms (default 10000). */
  timeoutMs?: number;
}
