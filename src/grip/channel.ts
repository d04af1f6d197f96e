// The name of a channel on the proxy side (Grip-Channel, published items, Grip-Last). Pushpin
// parses Grip-Channel as `name; param=value, …` with quoted strings, and Node can only write
// Latin-1 header values, so names travel percent-encoded: every UTF-8 byte of a character that
// has a meaning in that grammar (or in an `id_format`) or is not printable ASCII becomes `%XX`.
// Printable ASCII names without those characters (`events-clock`) are unchanged on the wire.

/**
 * Characters kept as they are: printable ASCII except `"` `%` `,` `;` `=` `\` and `)` (which would
 * end the `%(name)s` of a channel in the build-id filter's `id_format`, build-id.ts).
 */
const KEPT = /^[\x20\x21\x23-\x24\x26-\x28\x2a-\x2b\x2d-\x3a\x3c\x3e-\x5b\x5d-\x7e]$/;
const ALL_KEPT = /^[\x20\x21\x23-\x24\x26-\x28\x2a-\x2b\x2d-\x3a\x3c\x3e-\x5b\x5d-\x7e]*$/;

/**
 * `prefix + channel` as the proxy sees it. Injective (`%` itself is encoded), so two channels
 * never share a proxy channel. Names are well-formed Unicode (see base/channel-name.ts): a lone
 * surrogate would not survive UTF-8.
 */
export function gripChannelName(prefix: string, channel: string): string {
  const name = prefix + channel;
  if (ALL_KEPT.test(name)) return name;
  let out = '';
  for (const ch of name) {
    if (KEPT.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The inverse of `gripChannelName` (without the prefix split); undefined for malformed escapes. */
export function decodeGripChannelName(wire: string): string | undefined {
  try {
    return decodeURIComponent(wire);
  } catch {
    return undefined;
  }
}
