// Where a request carries its subscriber token: a cookie (browsers' EventSource sends cookies),
// the Authorization header (fetch-based clients, servers), or a query parameter (a short-lived
// token the app minted for a URL). The first source that has one is used.
import { InvalidOptionError } from '../base/errors.js';
import { queryOf, type RequestView } from '../protocol/request-view.js';

/** `header` (`Authorization: Bearer …`), `cookie:<name>` or `query:<name>`. */
export type TokenSource = 'header' | `cookie:${string}` | `query:${string}`;

type Reader = (view: RequestView) => string | undefined;

const NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
const BEARER = /^Bearer[ \t]+([A-Za-z0-9._~+/=-]+)[ \t]*$/i;
/** Longer than any sane JWT: not parsed, not verified. */
export const MAX_TOKEN_LENGTH = 8192;

/** Readers for the `from` option (default: the header, then the `token` cookie). */
export function tokenReaders(from: unknown): Reader[] {
  const sources = from === undefined ? ['header', 'cookie:token'] : from;
  if (!Array.isArray(sources) || sources.length === 0) {
    throw new InvalidOptionError(
      'from',
      "from must be a non-empty array like ['header', 'cookie:session', 'query:token']",
    );
  }
  return sources.map((source: unknown) => readerFor(source));
}

function readerFor(source: unknown): Reader {
  if (source === 'header') return bearerOf;
  if (typeof source === 'string') {
    const colon = source.indexOf(':');
    const kind = source.slice(0, colon);
    const name = source.slice(colon + 1);
    if (colon > 0 && NAME.test(name)) {
      if (kind === 'cookie') return (view) => cookieOf(view, name);
      if (kind === 'query') return (view) => queryOf(view).get(name) ?? undefined;
    }
  }
  throw new InvalidOptionError(
    'from',
    `each token source must be 'header', 'cookie:<name>' or 'query:<name>' (got ${String(source).slice(0, 80)})`,
  );
}

function bearerOf(view: RequestView): string | undefined {
  const header = view.header('authorization');
  if (header === undefined) return undefined;
  return BEARER.exec(header)?.[1];
}

function cookieOf(view: RequestView, name: string): string | undefined {
  const header = view.header('cookie');
  if (header === undefined) return undefined;
  for (const pair of header.split(/;\s*/)) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) {
      const value = pair.slice(eq + 1).trim();
      return value.startsWith('"') && value.endsWith('"') && value.length >= 2 ? value.slice(1, -1) : value;
    }
  }
  return undefined;
}

/** The request's token: the first source that has a non-empty one. */
export function readToken(readers: readonly Reader[], view: RequestView): string | undefined {
  for (const read of readers) {
    const token = read(view);
    if (token !== undefined && token !== '') return token;
  }
  return undefined;
}
