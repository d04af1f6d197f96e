// How the MCP event store names and writes what it keeps in the history: one channel per session
// and SDK stream, event ids that carry their stream and position, and message bodies as SSE data
// lines. Everything read back is checked against exactly what `storeEvent` writes.
import { McpResumeError } from './errors.js';

/**
 * A JSON-RPC message as the MCP SDK hands it to an event store (its `JSONRPCMessage`), or the
 * empty object of a priming event.
 */
export type McpMessage = { readonly [key: string]: unknown };

// The SDK names a request's stream with `crypto.randomUUID()` and the standalone GET stream
// `_GET_stream` (webStandardStreamableHttp.js: `handlePostRequest`, `_standaloneSseStreamId`).
const STREAM_ID = /^[A-Za-z0-9_-]{1,64}$/;
// MCP session ids are visible ASCII (0x21-0x7E, the Streamable HTTP spec); `,` and `;` are not
// allowed in channel names, so they are refused here.
const SESSION_ID = /^[\x21-\x2b\x2d-\x3a\x3c-\x7e]{1,128}$/;
// `<stream id>.<epoch>-<seq>`: the stream id never contains a dot, the epoch is the history's.
const EVENT_ID = /^([A-Za-z0-9_-]{1,64})\.([0-9a-z]{1,16})-([1-9][0-9]{0,15})$/;
const PREFIX = /^[A-Za-z0-9_-]{1,32}$/;
const BODY = /^data: (\{[^\r\n]*\})\n\n$/;

/** A parsed event id. */
export interface EventPosition {
  readonly streamId: string;
  readonly epoch: string;
  readonly seq: number;
}

export function assertSessionId(session: unknown): asserts session is string {
  if (typeof session !== 'string' || !SESSION_ID.test(session)) {
    throw new McpResumeError(
      'invalid-argument',
      'an MCP session id must be 1-128 visible ASCII characters other than "," and ";"',
    );
  }
}

export function assertPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new McpResumeError('invalid-argument', 'prefix must be 1-32 of A-Z a-z 0-9 _ -');
  }
}

export function assertStreamId(streamId: unknown, session: string): asserts streamId is string {
  if (typeof streamId !== 'string' || !STREAM_ID.test(streamId)) {
    throw new McpResumeError('invalid-argument', 'an SDK stream id must be 1-64 of A-Z a-z 0-9 _ -', session);
  }
}

/** The history channel of one SDK stream of one session. */
export function channelOf(prefix: string, session: string, streamId: string): string {
  return `${prefix}/${session}/${streamId}`;
}

export function formatEventId(streamId: string, epoch: string, seq: number): string {
  return `${streamId}.${epoch}-${seq}`;
}

/** The position an id names, or undefined when it is not an id this store issues. */
export function parseEventId(id: unknown): EventPosition | undefined {
  if (typeof id !== 'string') return undefined;
  const match = EVENT_ID.exec(id);
  if (match === null) return undefined;
  const seq = Number(match[3]);
  if (!Number.isSafeInteger(seq)) return undefined;
  return { streamId: match[1]!, epoch: match[2]!, seq };
}

/** A message as one SSE data line (JSON text has no raw line breaks). */
export function encodeMessage(message: McpMessage, session: string): string {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) {
    throw new McpResumeError('invalid-argument', 'an MCP message must be a JSON object', session);
  }
  return `data: ${JSON.stringify(message)}\n\n`;
}

/**
 * The message a stored body holds; `'priming'` for the SDK's empty priming event (never replayed:
 * it carries no message, only the id the client resumes from). Anything else is foreign.
 */
export function decodeMessage(body: unknown, session: string, seq: number): McpMessage | 'priming' {
  const match = typeof body === 'string' ? BODY.exec(body) : null;
  let value: unknown;
  try {
    value = match === null ? undefined : JSON.parse(match[1]!);
  } catch {
    value = undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new McpResumeError(
      'foreign-record',
      `the history holds a record this store did not write at seq ${seq}`,
      session,
    );
  }
  const message = value as McpMessage;
  if (Object.keys(message).length === 0) return 'priming';
  if (message.jsonrpc !== '2.0') {
    throw new McpResumeError(
      'foreign-record',
      `the history holds a non-JSON-RPC record at seq ${seq}`,
      session,
    );
  }
  return message;
}
