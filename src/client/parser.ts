// The event stream format as the WHATWG HTML standard parses it (9.2.6), for the fetch transport:
// lines end in CR, LF or CRLF (a CR ending a chunk waits for the next one, which may start with
// its LF); `data` lines join with LF; an `id` containing NUL is ignored; `retry` takes digits only;
// a block without data dispatches nothing. The byte order mark is the decoder's job (TextDecoder
// drops one at the start).

/** `own`: the block carried an `id` field (else `id` is the stream's last id). */
export type ParsedEvent = (type: string, data: string, id: string, own: boolean) => void;

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
  const line = (text: string): void => {
    if (text === '') {
      if (data !== '') onEvent(type || 'message', data.slice(0, -1), id, own);
      data = type = '';
      own = false;
      return;
    }
    const colon = text.indexOf(':');
    if (colon === 0) return;
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') data += `${value}\n`;
    else if (field === 'event') type = value;
    else if (field === 'id' && !value.includes('\0')) {
      id = value;
      own = true;
    } else if (field === 'retry' && /^\d+$/.test(value)) onRetry(+value);
  };
  return (chunk) => {
    rest += chunk;
    const end = /\r\n|\r|\n/g;
    let start = 0;
    for (let m = end.exec(rest); m !== null; m = end.exec(rest)) {
      if (m[0] === '\r' && end.lastIndex === rest.length) break;
      line(rest.slice(start, m.index));
      start = end.lastIndex;
    }
    rest = rest.slice(start);
  };
}
