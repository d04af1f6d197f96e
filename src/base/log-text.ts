// Values from outside (a client's Last-Event-ID or channel names, a proxy's answer, a store's
// error) written into a log line or a process warning. A line break would let the value forge
// lines of its own, an escape sequence would drive the reader's terminal, and a 12,000-character
// id would make a 12,000-character line: so every such value is escaped and capped here.

/** Most UTF-16 code units of one value a log line or warning carries; the rest is counted, not shown. */
export const LOG_VALUE_MAX = 200;

// C0 and C1 controls, DEL, the line and paragraph separators, the bidi marks, embeddings,
// overrides and isolates (they reorder what follows them on screen), BOM, a lone surrogate (the
// u flag makes the range match only unpaired halves), and `\` itself so that every escape in a
// line is ours.
const UNSAFE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff\\]/gu;

function escaped(ch: string): string {
  if (ch === '\\') return '\\\\';
  const code = ch.charCodeAt(0);
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `value` as one safe piece of a log line: control characters escaped, cut after `max` code units. */
export function logText(value: unknown, max = LOG_VALUE_MAX): string {
  let text = String(value);
  let rest = '';
  if (text.length > max) {
    // Cut before a surrogate pair rather than through it.
    const end = /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max;
    rest = `…(+${text.length - end} chars)`;
    text = text.slice(0, end);
  }
  return text.replace(UNSAFE, escaped) + rest;
}
