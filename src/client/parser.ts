// The event stream format as the WHATWG HTML standard parses it (9.2.6), for the fetch transport:
// lines end in CR, LF or CRLF (a CR ending a chunk waits for the next one, which may start with
// its LF); `data` lines join with LF; an `id` containing NUL is ignored; `retry` takes digits only;
// a block without data dispatches nothing. The byte order mark is the decoder's job (TextDecoder
// drops one at the start).

/**
 * `own`: the block carried an `id` field (else `id` is the stream's last id); `channel`: its
 * `channel` field (a stream opened with `?channelField=1`), a field the standard ignores.
 */
export type ParsedEvent = (type: string, data: string, id: string, own: boolean, channel?: string) => void;

/**
 * Returns a function taking the decoded text chunk by chunk. `id`: the last id of the previous
 * connection (a stream's last event id outlives its connections).
 */
export function sseParser(
  onEvent: ParsedEvent,
  onRetry: (ms: number) => void,
  id: string,
): (chunk: string) => void {
  let rest = '';
  let data = '';
  let type = '';
  let own = false;
  let channel: string | undefined;
  return (chunk) => {
    // A CR ending the text may be the first half of a CRLF: it waits for the next chunk.
    const lines = (rest + chunk).split(/\r\n|\r(?!$)|\n/);
    rest = lines.pop() as string;
    for (const text of lines) {
      if (text === '') {
        if (data) onEvent(type || 'message', data.slice(0, -1), id, own, channel);
        data = type = '';
        own = false;
        channel = undefined;
      }
      // Field name up to the first colon, value after it less one space; a comment has name ''.
      const [, field, value] = /^([^:]*):? ?(.*)/s.exec(text) as unknown as [string, string, string];
      if (field === 'data') data += `${value}\n`;
      else if (field === 'event') type = value;
      else if (field === 'channel') channel = value;
      else if (field === 'id' && !value.includes('\0')) {
        id = value;
        own = true;
      } else if (field === 'retry' && /^\d+$/.test(value)) onRetry(+value);
    }
  };
}
