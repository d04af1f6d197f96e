// A stream's status in the shared state: `open` while its producer's heartbeat refreshes it
// (expiring soon after the producer dies), then how it ended, kept for the retention time. Values
// read back are foreign data: anything but a status this module wrote reads as absent.

/** How a response stream ended. `lost`: its producer stopped refreshing its heartbeat (it died). */
export type StreamEnding = 'done' | 'failed' | 'stopped' | 'lost';
export type StreamState = 'open' | StreamEnding;

const STATES: ReadonlySet<string> = new Set(['open', 'done', 'failed', 'stopped', 'lost']);

export function encodeStatus(state: StreamState): string {
  return JSON.stringify({ v: 1, s: state });
}

export function decodeStatus(text: string | undefined): StreamState | undefined {
  if (text === undefined || text.length > 200) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object') return undefined;
    const { v, s } = value as { v?: unknown; s?: unknown };
    return v === 1 && typeof s === 'string' && STATES.has(s) ? (s as StreamState) : undefined;
  } catch {
    return undefined;
  }
}

/** The data of a stream's terminal `end` event (documented wire format). */
export function endData(ending: StreamEnding, message?: string): { status: StreamEnding; message?: string } {
  return message === undefined ? { status: ending } : { status: ending, message: message.slice(0, 500) };
}
