// How a response stream maps onto the shared history and state: its own channels (chunks and
// terminal event on one, compaction snapshots on another) and its status entry. The `~` prefix
// keeps them apart from application channels, which rarely start with it.
import { ResponseStreamError } from '../base/errors.js';

/** Stream ids: short, URL-path-safe, so one fits in a channel name, a state key and a route. */
const STREAM_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

/** The state scope holding every stream's status (open with a heartbeat, or finished). */
export const STATUS_SCOPE = 'stream-status';
/** The state scope remembering stop requests, re-read after a control outage. */
export const STOP_SCOPE = 'stream-stop';
/** The control topic of stop requests. */
export const STOP_TOPIC = 'stream-stop';

export function assertStreamId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !STREAM_ID.test(id)) {
    throw new ResponseStreamError(
      String(id).slice(0, 100),
      'invalid-id',
      'a stream id must be 1-100 of A-Z a-z 0-9 . _ : - starting with a letter or digit',
    );
  }
}

export function isStreamId(id: unknown): id is string {
  return typeof id === 'string' && STREAM_ID.test(id);
}

/** The channel of a stream's chunks and its terminal `end` event. */
export function chunkChannel(id: string): string {
  return `~stream/${id}`;
}

/** The channel of a stream's compaction snapshots. */
export function snapshotChannel(id: string): string {
  return `~stream-snapshot/${id}`;
}

/** The idempotency key of a stream's terminal event: whoever writes it (producer or reader), once. */
export function endKey(id: string): string {
  return `~stream-end/${id}`;
}
