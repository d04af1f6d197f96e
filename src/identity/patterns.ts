// What a token grants: channel patterns from one of its claims. `*` matches any run of characters
// (none included) and `{sub}` is the token's own subject, so one claim `["user:{sub}:*"]` serves
// every user without minting per-user lists. A subject is substituted as literal text: a `*` in
// it never becomes a wildcard.

/** Most patterns one token may carry (a claim is small; this bounds the work per request). */
export const MAX_PATTERNS = 256;
/** Longest pattern, as a channel name's default bound. */
const MAX_PATTERN_LENGTH = 1024;
const SUB = '{sub}';

/** A grant, split at its wildcards: a channel matches when the literal parts appear in order. */
export type Grant = readonly string[];

/**
 * The grants of a claim value (an array of strings), `{sub}` replaced; a string naming the
 * problem when the claim is not one (the token is refused rather than read loosely).
 */
export function grantsOf(claim: unknown, sub: string | undefined): Grant[] | string {
  if (claim === undefined) return [];
  if (!Array.isArray(claim) || claim.length > MAX_PATTERNS)
    return `its channels claim must be an array of at most ${MAX_PATTERNS} strings`;
  const grants: Grant[] = [];
  for (const pattern of claim) {
    if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH)
      return `its channels claim must hold non-empty strings of at most ${MAX_PATTERN_LENGTH} characters`;
    if (pattern.includes(SUB) && sub === undefined) return 'a channel pattern names {sub} but it has no sub';
    grants.push(pattern.split('*').map((part) => (sub === undefined ? part : part.split(SUB).join(sub))));
  }
  return grants;
}

/** The patterns as text again (what `StreamIdentity.channels` shows). */
export function patternText(grant: Grant): string {
  return grant.join('*');
}

/** Whether `channel` matches `grant` (literal parts in order; the first and last anchored). */
export function matches(grant: Grant, channel: string): boolean {
  if (grant.length === 1) return grant[0] === channel;
  const first = grant[0]!;
  const last = grant[grant.length - 1]!;
  if (channel.length < first.length + last.length) return false;
  if (!channel.startsWith(first) || !channel.endsWith(last)) return false;
  // Leftmost placement of each middle part is optimal for `*`-only globs.
  let at = first.length;
  const end = channel.length - last.length;
  for (let i = 1; i < grant.length - 1; i++) {
    const part = grant[i]!;
    const found = channel.indexOf(part, at);
    if (found === -1 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

/** The first requested channel no grant matches, or undefined when every one is allowed. */
export function firstDenied(grants: readonly Grant[], channels: readonly string[]): string | undefined {
  return channels.find((channel) => !grants.some((grant) => matches(grant, channel)));
}
