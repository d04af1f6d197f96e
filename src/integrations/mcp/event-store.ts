// The MCP SDK's `EventStore` (server/webStandardStreamableHttp.d.ts) over this package's history,
// for one MCP session. What the SDK 1.32 relies on, read from webStandardStreamableHttp.js:
// - `send()` writes a message to the client only after `storeEvent()` resolved, and a response it
//   believes stored is dropped from memory when the stream is gone ("the response was stored above
//   and will be replayed on resume"): so `storeEvent` resolves only once the history's append did.
//   That holds for the `{}` priming event too (`writePrimingEvent`): its id is the client's first
//   resumption token.
// - `storeEvent(streamId, message)` is not told the session, and every session's standalone stream
//   is `_GET_stream`: one store per session, its session in every channel name.
// - `replayEventsAfter` is awaited before the resumed stream is registered (`replayEvents`): an
//   event the transport stores meanwhile finds no stream and is written nowhere. So the replay
//   reads again until a read comes back empty; the SDK skips re-sending what the replay sent
//   (`replayedEventIds`).
// - A replay that throws is answered `500` with a JSON-RPC error, and `getStreamIdForEventId`
//   returning undefined `400`: an unknown id never yields an empty 200 stream.
import { type EventStore, Events } from 'express-eventstream';
import { packageInternals } from '../../compose/internal-key.js';
import { McpResumeError } from './errors.js';
import {
  assertPrefix,
  assertSessionId,
  assertStreamId,
  channelOf,
  decodeMessage,
  encodeMessage,
  formatEventId,
  type McpMessage,
  parseEventId,
} from './records.js';

/** Options of `mcpEventStore()`. */
export interface McpEventStoreOptions {
  /** First part of the history channels (`<prefix>/<session>/<stream>`). Default `mcp`. */
  readonly prefix?: string;
}

/** Events read per history read while replaying. */
const REPLAY_PAGE = 500;

/**
 * The MCP SDK's `EventStore` for one session, over an Events object's history (memory, Redis,
 * Postgres): pass it as `eventStore` to the session's `StreamableHTTPServerTransport` or
 * `WebStandardStreamableHTTPServerTransport`. Ids are `<stream>.<epoch>-<seq>`: the history
 * assigns the order, so ids are unique and ordered across every process sharing it, and any of
 * them can resume from one without memory of its own.
 */
export class McpEventStore {
  /** The MCP session whose events this store keeps. */
  readonly session: string;
  readonly #history: EventStore;
  readonly #prefix: string;

  /** @internal */
  constructor(history: EventStore, session: string, prefix: string) {
    this.#history = history;
    this.session = session;
    this.#prefix = prefix;
  }

  /** Stores `message` on `streamId` and resolves with its event id once the history holds it. */
  async storeEvent(streamId: string, message: McpMessage): Promise<string> {
    assertStreamId(streamId, this.session);
    const body = encodeMessage(message, this.session);
    const channel = channelOf(this.#prefix, this.session, streamId);
    const outcome = await this.#history.append([{ channel, body }]);
    const seq = outcome.events[0]?.seq;
    if (seq === undefined) {
      throw new McpResumeError(
        'foreign-record',
        'the history answered an append without its position',
        this.session,
      );
    }
    return formatEventId(streamId, outcome.epoch, seq);
  }

  /** The stream an id belongs to, or undefined when it is not an id this store issues (the SDK answers 400). */
  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return parseEventId(eventId)?.streamId;
  }

  /**
   * Sends every message stored on the id's stream after it, in order, reading again until nothing
   * new is left, and resolves with the stream id. Rejects with `McpResumeError` when the id is
   * not one of this session's stored events (or the events after it were lost to retention).
   */
  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: McpMessage) => Promise<void> },
  ): Promise<string> {
    const position = parseEventId(lastEventId);
    if (position === undefined) {
      throw new McpResumeError(
        'malformed-event-id',
        'Last-Event-ID is not an id of this event store',
        this.session,
      );
    }
    const { streamId, epoch, seq } = position;
    const channel = channelOf(this.#prefix, this.session, streamId);
    const found = await this.#history.readAfter([channel], seq - 1, 1);
    if (found.epoch !== epoch || found.gaps.includes(channel) || found.records[0]?.seq !== seq) {
      throw new McpResumeError(
        'unknown-event-id',
        `Last-Event-ID ${JSON.stringify(lastEventId)} names no stored event of this session (another session's, an earlier history's, or expired)`,
        this.session,
      );
    }
    let after = seq;
    for (;;) {
      const page = await this.#history.readAfter([channel], after, REPLAY_PAGE);
      if (page.epoch !== epoch || page.gaps.includes(channel)) {
        throw new McpResumeError(
          'unknown-event-id',
          'events after Last-Event-ID were lost to the history’s retention',
          this.session,
        );
      }
      if (page.records.length === 0) return streamId;
      for (const record of page.records) {
        if (record.channel !== channel || !Number.isSafeInteger(record.seq) || record.seq <= after) {
          throw new McpResumeError(
            'foreign-record',
            `the history answered a record out of order at seq ${record.seq}`,
            this.session,
          );
        }
        after = record.seq;
        const message = decodeMessage(record.body, this.session, record.seq);
        if (message !== 'priming') await send(formatEventId(streamId, epoch, record.seq), message);
      }
    }
  }
}

/**
 * The MCP event store of `session` over `events`' history. Create one per session (the SDK does
 * not tell a store which session an event belongs to), with the id the transport will give the
 * session: `sessionIdGenerator: () => id`.
 */
export function mcpEventStore(
  events: Events,
  session: string,
  options: McpEventStoreOptions = {},
): McpEventStore {
  assertSessionId(session);
  const prefix = options.prefix ?? 'mcp';
  assertPrefix(prefix);
  const engine = packageInternals(Events).engineOf(events);
  if (engine === undefined) {
    throw new McpResumeError(
      'invalid-argument',
      'mcpEventStore() needs the Events object of express-eventstream',
      session,
    );
  }
  if (engine.history === undefined) {
    throw new McpResumeError(
      'invalid-argument',
      'mcpEventStore() needs the history: do not pass history: false',
      session,
    );
  }
  return new McpEventStore(engine.history, session, prefix);
}
