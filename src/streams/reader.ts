// Reading a response stream on any process: from the shared history after the client's
// Last-Event-ID (or a compaction snapshot for a fresh reader), then whatever is appended, until
// the terminal `end` event. A doorbell on the stream's channel says when to read again; while it
// is silent the status is checked, and a stream whose producer's heartbeat expired gets the
// `lost` ending (written once, whoever notices first).
import type { Subscriptions } from '../core/subscription.js';
import type { SharedState } from '../engine/state.js';
import type { EventStore, ReadResult } from '../engine/store.js';
import { assertEpoch, formatId, parseSeq } from '../history/ids.js';
import { chunkChannel, STATUS_SCOPE, snapshotChannel } from './names.js';
import { pieceOf, type StreamPiece } from './records.js';
import { decodeStatus, type StreamEnding } from './status.js';
import { Doorbell } from './wake.js';

/** What reading a stream found: a 404 (`unknown`, `expired`), a 204 (`complete`), or pieces. */
export type StreamReading =
  | { readonly status: 'unknown' | 'expired' | 'complete' }
  | { readonly status: 'open'; readonly pieces: AsyncIterable<StreamPiece> };

/** Where reading a response stream starts (after a `Last-Event-ID`) and what stops it. */
export interface ReadStreamOptions {
  /** The client's `Last-Event-ID`: pieces after it. */
  lastEventId?: string | undefined;
  /** Stops the reading (the client left). */
  signal?: AbortSignal | undefined;
}

export interface ReaderHost {
  readonly store: EventStore;
  readonly state: SharedState;
  readonly subscriptions: Subscriptions;
  /** Append the `lost` ending (stored once, whoever writes it first). */
  markLost(id: string): Promise<void>;
}

const PAGE = 1000;
/** How long a reader waits for its doorbell before it checks the producer's status. */
const CHECK_MS = 1000;

export async function readStream(
  host: ReaderHost,
  id: string,
  options: ReadStreamOptions = {},
): Promise<StreamReading> {
  const channel = chunkChannel(id);
  const { store } = host;
  const epoch = await store.epoch();
  assertEpoch(epoch);
  const parsed = parseSeq(options.lastEventId, epoch);
  // An id of another epoch or a malformed one cannot be placed: the stream is sent from its start.
  const fresh = typeof parsed !== 'number';
  let position = fresh ? 0 : parsed;
  const status = decodeStatus(await host.state.get(STATUS_SCOPE, id));
  const newest = await lastRecord(store, channel);
  if (status === undefined) {
    if (newest === undefined) return { status: 'unknown' };
    if (newest.kind === 'end') return { status: 'expired' };
    await host.markLost(id); // the producer died before anyone looked
  } else if (status !== 'open' && newest !== undefined && newest.kind === 'end') {
    if (!fresh && newest.seq <= position) return { status: 'complete' };
  }
  let snapshot: StreamPiece | undefined;
  if (fresh) {
    const snap = await lastRecord(store, snapshotChannel(id));
    if (snap !== undefined && snap.kind === 'snapshot') {
      snapshot = snap.piece;
      position = snap.seq;
    }
  }
  return { status: 'open', pieces: pieces(host, id, position, snapshot, options.signal) };
}

async function* pieces(
  host: ReaderHost,
  id: string,
  from: number,
  snapshot: StreamPiece | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<StreamPiece> {
  const channel = chunkChannel(id);
  const bell = new Doorbell(host.subscriptions, channel);
  const stop = () => bell.close();
  signal?.addEventListener('abort', stop, { once: true });
  try {
    if (snapshot !== undefined) yield snapshot;
    // Read only once the bell is subscribed: anything appended later rings it.
    await bell.subscribed;
    let position = from;
    while (!bell.closed) {
      const read = await host.store.readAfter([channel], position, PAGE);
      assertEpoch(read.epoch);
      for (const record of read.records) {
        position = record.seq;
        const piece = pieceOf(record, formatId(read.epoch, record.seq));
        if (piece === undefined) continue;
        yield piece;
        if (piece.kind === 'end') return;
      }
      if (read.gaps.includes(channel)) {
        throw new Error(`response stream ${id}: events after ${position} left the history`);
      }
      if (read.records.length === PAGE) continue;
      if (!(await bell.wait(CHECK_MS)) && !bell.closed) await checkProducer(host, id, read);
    }
  } finally {
    signal?.removeEventListener('abort', stop);
    bell.close();
  }
}

// Quiet for a while: if the producer's heartbeat is gone, the stream is lost (the ending is read
// on the next loop); a finished status means the end is stored and the next read gets it.
async function checkProducer(host: ReaderHost, id: string, read: ReadResult): Promise<void> {
  const status = decodeStatus(await host.state.get(STATUS_SCOPE, id));
  if (status === undefined && read.records.length === 0) await host.markLost(id);
}

/** A channel's newest record, read as a piece, with its seq. */
async function lastRecord(
  store: EventStore,
  channel: string,
): Promise<{ seq: number; kind: StreamPiece['kind']; piece: StreamPiece } | undefined> {
  const head = await store.readAfter([channel], Number.MAX_SAFE_INTEGER);
  const last = head.lastSeq[channel] ?? 0;
  if (last === 0) return undefined;
  const read = await store.readAfter([channel], last - 1, 1);
  const record = read.records[0];
  if (record === undefined || record.seq !== last) return undefined;
  assertEpoch(read.epoch);
  const piece = pieceOf(record, formatId(read.epoch, record.seq));
  return piece === undefined ? undefined : { seq: record.seq, kind: piece.kind, piece };
}

/** How the stream ended, as its stored terminal event says (undefined while it has none). */
export async function storedEnding(store: EventStore, id: string): Promise<StreamEnding | undefined> {
  const last = await lastRecord(store, chunkChannel(id));
  return last?.piece.ending?.status;
}
