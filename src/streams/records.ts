// What a response stream's stored records mean. Bodies come back from a shared store, so each is
// checked against the exact shapes the producer writes: anything else is never sent.
import type { StoredRecord } from '../engine/store.js';
import type { StreamEnding } from './status.js';

/** One piece of a response stream as read from the history. */
export interface StreamPiece {
  /** `chunk`: appended text; `snapshot`: the text up to here (compaction); `end`: the terminal event. */
  readonly kind: 'chunk' | 'snapshot' | 'end';
  /** Its SSE id (`<epoch>-<seq>`): a client resumes after it with `Last-Event-ID`. */
  readonly id: string;
  /** Its SSE text without the `id:` line, exactly as stored. */
  readonly body: string;
  /** The text of its data lines (a chunk's or snapshot's text; the end's JSON). */
  readonly data: string;
  /** For `end`: how the stream ended, and the producer's message when it failed. */
  readonly ending?: { readonly status: StreamEnding; readonly message?: string };
}

const DATA_LINES = /^(?:data:(?: [^\r\n]*)?\n)+\n$/;
const END = /^event: end\ndata: (\{[^\r\n]*\})\n\n$/;
const SNAPSHOT = 'event: snapshot\n';
const ENDINGS: ReadonlySet<string> = new Set(['done', 'failed', 'stopped', 'lost']);

/** The piece a stored record is, or undefined when it is not one the producer could have written. */
export function pieceOf(record: StoredRecord, id: string): StreamPiece | undefined {
  const { body } = record;
  if (typeof body !== 'string') return undefined;
  if (body.startsWith('data:')) {
    return DATA_LINES.test(body) ? { kind: 'chunk', id, body, data: dataText(body) } : undefined;
  }
  if (body.startsWith(SNAPSHOT)) {
    const rest = body.slice(SNAPSHOT.length);
    return DATA_LINES.test(rest) ? { kind: 'snapshot', id, body, data: dataText(rest) } : undefined;
  }
  const match = END.exec(body);
  if (match === null) return undefined;
  const ending = parseEnding(match[1]!);
  return ending === undefined ? undefined : { kind: 'end', id, body, data: match[1]!, ending };
}

function parseEnding(json: string): StreamPiece['ending'] {
  try {
    const value: unknown = JSON.parse(json);
    if (value === null || typeof value !== 'object') return undefined;
    const { status, message } = value as { status?: unknown; message?: unknown };
    if (typeof status !== 'string' || !ENDINGS.has(status)) return undefined;
    if (message !== undefined && typeof message !== 'string') return undefined;
    return message === undefined
      ? { status: status as StreamEnding }
      : { status: status as StreamEnding, message };
  } catch {
    return undefined;
  }
}

// `data: x\n` lines back to their text, as an EventSource joins them.
function dataText(lines: string): string {
  return lines
    .slice(0, -2)
    .split('\n')
    .map((line) => (line === 'data:' ? '' : line.slice(6)))
    .join('\n');
}
