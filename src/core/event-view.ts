// What app callbacks (subscriber filters, conflation keys) see of a published event: read back
// from its SSE text, so it is the same for events of this process, of another one (a shared bus)
// and from the history (a replay). Built once per event and shared by every callback.

/** An event as filters and conflation keys see it. */
export interface EventView {
  /** The channel it was published on. */
  readonly channel: string;
  /** The event name; undefined for `message`. */
  readonly event: string | undefined;
  /** Its SSE id (undefined when history is off and none was given). */
  readonly id: string | undefined;
  /** The `data` text as the client receives it (JSON text unless published `raw`). */
  readonly data: string;
  /** `data` parsed as JSON, once per event; undefined when it is not JSON. */
  json(): unknown;
}

const NOT_PARSED = Symbol('not parsed');

/** The view of one event from its channel and SSE text (`id:`, `event:`, `data:` lines). */
export function viewOf(channel: string, text: string): EventView {
  let event: string | undefined;
  let id: string | undefined;
  let data: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('data: ')) data = data === undefined ? line.slice(6) : `${data}\n${line.slice(6)}`;
    else if (line === 'data:') data = data === undefined ? '' : `${data}\n`;
    else if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('id: ')) id = line.slice(4);
  }
  let parsed: unknown = NOT_PARSED;
  const text_ = data ?? '';
  return {
    channel,
    event,
    id,
    data: text_,
    json() {
      if (parsed === NOT_PARSED) {
        try {
          parsed = JSON.parse(text_);
        } catch {
          parsed = undefined;
        }
      }
      return parsed;
    },
  };
}
