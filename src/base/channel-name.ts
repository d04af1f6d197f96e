import { InvalidChannelError } from './errors.js';

/** Longest channel name accepted by default (UTF-16 code units). */
export const DEFAULT_MAX_CHANNEL_NAME_LENGTH = 128;

// C0 controls, DEL and C1 controls; `,` and `;` separate values and parameters in `Grip-Channel`.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f,;]/;
// With the u flag this matches only a surrogate that is not half of a pair: such a name has no
// UTF-8 form, so it could not round-trip through a proxy (it would become U+FFFD).
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/**
 * Why `name` is not a valid channel name, or undefined when it is. Names go into logs and (encoded,
 * see grip/channel.ts) into `Grip-Channel` headers, so they must be short, printable Unicode;
 * `,` and `;` stay out so `?channel=a,b` can be answered with a hint instead of a surprise.
 */
export function channelNameProblem(
  name: unknown,
  maxLength = DEFAULT_MAX_CHANNEL_NAME_LENGTH,
): string | undefined {
  if (typeof name !== 'string') return `channel name must be a string, got ${typeof name}`;
  if (name.length === 0) return 'channel name must not be empty';
  if (name.length > maxLength) return `channel name is longer than ${maxLength} characters`;
  const bad = FORBIDDEN.exec(name);
  if (bad) {
    const ch = bad[0];
    const shown =
      ch === ',' || ch === ';'
        ? `'${ch}'`
        : `control character U+${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
    return `channel name must not contain ${shown}`;
  }
  if (LONE_SURROGATE.test(name)) return 'channel name must be well-formed Unicode (no lone surrogate)';
  if (name.trim() !== name) return 'channel name must not start or end with whitespace';
  return undefined;
}

export function assertChannelName(name: unknown, maxLength?: number): asserts name is string {
  const problem = channelNameProblem(name, maxLength);
  if (problem !== undefined) throw new InvalidChannelError(name, problem);
}
