import { GripConfigError } from './errors.js';
import {
  decodeSecret,
  decodeVerifyKey,
  FASTLY_FANOUT_PUBLIC_JWK,
  looksAsymmetric,
  type VerifyKeyMaterial,
} from './keys.js';
import type { GripOption, GripProxyOptions, GripSettings } from './types.js';

/** The query parameters a GRIP_URL may carry (js-grip v4 names); any others stay in the URL. */
const GRIP_PARAMS = ['iss', 'key', 'verify-iss', 'verify-key'] as const;
type GripParam = (typeof GRIP_PARAMS)[number];

/**
 * Parses one GRIP_URL with the semantics of js-grip v4 `parseGripUri`:
 * `http(s)://[user:pass@]host[:port][/path][?iss=…&key=…&verify-iss=…&verify-key=…]`.
 * The control URI is the URL without credentials, without those four parameters and without a
 * trailing slash; other query parameters stay in it. Returns the options as written, before the
 * verification defaults that {@link resolveProxy} applies.
 */
export function parseGripUrl(input: string): GripProxyOptions {
  const text = input.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new GripConfigError(`GRIP_URL is not a valid URL: ${redact(text)}`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new GripConfigError(`GRIP_URL must be http: or https:, got ${url.protocol} in ${redact(text)}`);
  }

  const found: Partial<Record<GripParam, string>> = {};
  const rest: string[] = [];
  const query = url.search.startsWith('?') ? url.search.slice(1) : url.search;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const name = decodeComponent(rawName, text);
    if ((GRIP_PARAMS as readonly string[]).includes(name)) {
      if (found[name as GripParam] !== undefined) {
        throw new GripConfigError(`GRIP_URL has more than one '${name}' parameter: ${redact(text)}`);
      }
      // '+' is kept literally (not turned into a space): keys are often base64 and contain '+'.
      found[name as GripParam] = eq === -1 ? '' : decodeComponent(part.slice(eq + 1), text);
    } else {
      rest.push(part);
    }
  }

  const path = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  const controlUri = `${url.protocol}//${url.host}${path}${rest.length > 0 ? `?${rest.join('&')}` : ''}`;
  const out: GripProxyOptions = { controlUri };
  if (found.iss) out.controlIss = found.iss;
  if (found.key) out.key = found.key;
  if (found['verify-iss']) out.verifyIss = found['verify-iss'];
  if (found['verify-key']) out.verifyKey = found['verify-key'];
  if (url.username !== '' || url.password !== '') {
    out.user = decodeComponent(url.username, text);
    out.pass = decodeComponent(url.password, text);
  }
  return out;
}

/** A proxy after validation and defaults, plus what verification and publishing need. */
export interface ResolvedProxy {
  /** The options with defaults applied (`verifyKey`/`verifyIss` filled in as decided below). */
  readonly options: GripProxyOptions;
  /** `POST` target: `<controlUri path>/publish/` plus any extra query parameters. */
  readonly publishUrl: string;
  /** How `Grip-Sig` is checked for this proxy, or undefined when it cannot be (see docs/grip.md). */
  readonly verifier: { readonly key: VerifyKeyMaterial; readonly iss: string | undefined } | undefined;
  /** Publish auth: a shared secret for an HS256 JWT (`iss` given), a literal bearer token, or Basic. */
  readonly auth:
    | { readonly kind: 'jwt'; readonly iss: string; readonly secret: Uint8Array }
    | { readonly kind: 'bearer'; readonly token: string }
    | { readonly kind: 'basic'; readonly header: string }
    | { readonly kind: 'none' };
}

/** `api.fastly.com/service/<id>`: Fastly Fanout's publish API for service `<id>`. */
function fastlyServiceId(url: URL): string | undefined {
  if (url.hostname.toLowerCase() !== 'api.fastly.com') return undefined;
  const m = /^\/service\/([^/]+)/.exec(url.pathname);
  return m ? decodeURIComponent(m[1] ?? '') : undefined;
}

/**
 * Validates one proxy and applies the verification defaults:
 *  1. `verifyKey` given → it verifies `Grip-Sig` (with `verifyIss` checked when given).
 *  2. Fastly Fanout URL (`https://api.fastly.com/service/<id>`) → Fastly's public ES256 key, and
 *     `verifyIss` defaults to `fastly:<id>`; `key` is the API token and never a verify key.
 *  3. Otherwise a shared-secret `key` also verifies `Grip-Sig` (HS256) — with or without `iss`.
 *     js-grip does this only when `iss` is present; we also do it without, so the classic
 *     `?key=changeme` (Pushpin's default `sig_key`) verifies Pushpin's signatures.
 *  4. No key at all → no verifier; `Grip-Sig` is then not trusted (requests are served directly).
 */
function resolveProxy(raw: GripProxyOptions, where: string): ResolvedProxy {
  const controlUri = raw.controlUri;
  if (typeof controlUri !== 'string' || controlUri.trim() === '') {
    throw new GripConfigError(`${where}: controlUri must be a non-empty http(s) URL`);
  }
  let url: URL;
  try {
    url = new URL(controlUri.trim());
  } catch (cause) {
    throw new GripConfigError(`${where}: controlUri is not a valid URL: ${redact(controlUri)}`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new GripConfigError(`${where}: controlUri must be http: or https:, got ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new GripConfigError(`${where}: put credentials in 'user'/'pass', not in controlUri`);
  }
  checkOptionalString(raw.controlIss, 'controlIss', where);
  checkOptionalString(raw.verifyIss, 'verifyIss', where);
  checkOptionalString(raw.user, 'user', where);
  checkOptionalString(raw.pass, 'pass', where);
  checkKeyType(raw.key, 'key', where);
  checkKeyType(raw.verifyKey, 'verifyKey', where, true);

  const path = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  const base = `${url.protocol}//${url.host}${path}`;
  const options: GripProxyOptions = { controlUri: `${base}${url.search}` };
  const publishUrl = `${base}/publish/${url.search}`;

  const key = emptyToUndefined(raw.key);
  if (key !== undefined && looksAsymmetric(key)) {
    throw new GripConfigError(
      `${where}: 'key' must be a shared secret or API token; give a public key as 'verifyKey' ('verify-key' in a GRIP_URL)`,
    );
  }
  // Decode now so a malformed base64 key fails at startup, not on the first request.
  const keyBytes = key === undefined ? undefined : decodeSecret(key, `${where}: key`);
  const controlIss = emptyToUndefined(raw.controlIss);
  if (controlIss !== undefined) options.controlIss = controlIss;
  if (key !== undefined) options.key = key;

  const fastlyId = fastlyServiceId(url);
  let verifyKey = emptyToUndefined(raw.verifyKey);
  let verifyIss = emptyToUndefined(raw.verifyIss);
  if (verifyKey === undefined) {
    if (fastlyId !== undefined) {
      verifyKey = JSON.stringify(FASTLY_FANOUT_PUBLIC_JWK);
      verifyIss ??= `fastly:${fastlyId}`;
    } else if (key !== undefined) {
      verifyKey = key;
    }
  }
  if (verifyKey === undefined && verifyIss !== undefined) {
    throw new GripConfigError(
      `${where}: verifyIss ('verify-iss') is set but there is no key to verify Grip-Sig with`,
    );
  }
  let verifier: ResolvedProxy['verifier'];
  if (verifyKey !== undefined) {
    options.verifyKey = verifyKey;
    verifier = { key: decodeVerifyKey(verifyKey, `${where}: verifyKey`), iss: verifyIss };
  }
  if (verifyIss !== undefined) options.verifyIss = verifyIss;

  const user = raw.user ?? '';
  const pass = raw.pass ?? '';
  if (user !== '' || pass !== '') {
    options.user = user;
    options.pass = pass;
  }

  let auth: ResolvedProxy['auth'] = { kind: 'none' };
  if (controlIss !== undefined && keyBytes !== undefined) {
    auth = { kind: 'jwt', iss: controlIss, secret: keyBytes };
  } else if (key !== undefined) {
    auth = { kind: 'bearer', token: typeof key === 'string' ? key : Buffer.from(key).toString('utf8') };
  } else if (user !== '' || pass !== '') {
    if (user.includes(':'))
      throw new GripConfigError(`${where}: a Basic auth user name must not contain ':'`);
    auth = { kind: 'basic', header: `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}` };
  }
  return { options, publishUrl, verifier, auth };
}

/** Settings plus their resolved proxies; built by `resolveGrip`, or lazily for hand-made settings. */
const resolvedCache = new WeakMap<GripSettings, readonly ResolvedProxy[]>();

export function resolvedProxies(settings: GripSettings): readonly ResolvedProxy[] {
  let resolved = resolvedCache.get(settings);
  if (resolved === undefined) {
    resolved = settings.proxies.map((p, i) => resolveProxy(p, `grip[${i}]`));
    resolvedCache.set(settings, resolved);
  }
  return resolved;
}

/**
 * Parses the `grip` option: a GRIP_URL, an options object, or an array of them (one per proxy
 * instance; events are published to all). Empty strings are skipped; nothing left → GRIP off.
 */
export function resolveGrip(option: GripOption | undefined | null): GripSettings | undefined {
  if (option === undefined || option === null) return undefined;
  const list: readonly unknown[] = Array.isArray(option) ? option : [option];
  const resolved: ResolvedProxy[] = [];
  list.forEach((item, i) => {
    const where = Array.isArray(option) ? `grip[${i}]` : 'grip';
    if (typeof item === 'string') {
      if (item.trim() === '') return;
      resolved.push(resolveProxy(parseGripUrl(item), where));
    } else if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
      resolved.push(resolveProxy(fromObject(item as Record<string, unknown>), where));
    } else {
      throw new GripConfigError(
        `${where} must be a GRIP_URL string or an object like { controlUri, key }, got ${describe(item)}`,
      );
    }
  });
  if (resolved.length === 0) return undefined;
  const settings: GripSettings = Object.freeze({ proxies: Object.freeze(resolved.map((r) => r.options)) });
  resolvedCache.set(settings, resolved);
  return settings;
}

/** Accepts the documented camelCase names and the snake_case ones js-grip/node-grip configs use. */
function fromObject(o: Record<string, unknown>): GripProxyOptions {
  const pick = (camel: string, snake: string): unknown => (o[camel] !== undefined ? o[camel] : o[snake]);
  const out: Record<string, unknown> = {
    controlUri: pick('controlUri', 'control_uri'),
    controlIss: pick('controlIss', 'control_iss'),
    key: o.key,
    verifyIss: pick('verifyIss', 'verify_iss'),
    verifyKey: pick('verifyKey', 'verify_key'),
    user: o.user,
    pass: o.pass,
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out as unknown as GripProxyOptions;
}

function checkOptionalString(v: unknown, name: string, where: string): void {
  if (v !== undefined && typeof v !== 'string')
    throw new GripConfigError(`${where}: ${name} must be a string`);
}

function checkKeyType(v: unknown, name: string, where: string, allowJwk = false): void {
  if (v === undefined || typeof v === 'string' || v instanceof Uint8Array) return;
  if (allowJwk && v !== null && typeof v === 'object' && !Array.isArray(v)) return;
  throw new GripConfigError(
    `${where}: ${name} must be a string, base64:…, a Uint8Array${allowJwk ? ', a PEM or a JWK' : ''}`,
  );
}

function emptyToUndefined<T>(v: T | undefined): T | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string' && v === '') return undefined;
  if (v instanceof Uint8Array && v.length === 0) return undefined;
  return v;
}

function decodeComponent(s: string, whole: string): string {
  try {
    return decodeURIComponent(s);
  } catch (cause) {
    throw new GripConfigError(`GRIP_URL has a malformed %-escape: ${redact(whole)}`, { cause });
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a nested array';
  return typeof v;
}

/** The URL with secrets (`key`, `verify-key`, password) replaced, safe for error messages and logs. */
function redact(text: string): string {
  return text
    .replace(/([?&](?:key|verify-key)=)[^&#]*/gi, '$1***')
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@?#]*:)[^@/?#]*@/i, '$1***@');
}
