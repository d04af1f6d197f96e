import { EventStreamError } from 'express-eventstream';
import { ERROR_BRAND } from '../../base/error-brand.js';

/** Why an MCP event store or session registry refused. */
export type McpErrorReason =
  /** A `Last-Event-ID` this store never issued: not its format, or not a stream id the SDK names. */
  | 'malformed-event-id'
  /** A well-formed id with no stored event behind it: another session's, another epoch's, or expired. */
  | 'unknown-event-id'
  /** A stored record that this entry did not write (foreign data in the shared history). */
  | 'foreign-record'
  /** A session id, stream id or initialize record that cannot be stored. */
  | 'invalid-argument'
  /** No session of that id in the registry (never initialized, deleted, or expired). */
  | 'unknown-session'
  /** The session is served by another process whose lease is live: route the client to it. */
  | 'session-owned';

/**
 * The MCP adapter refused an id, a record or a session. The message names the cause and the
 * session; `reason` says which. The SDK's transport reports a replay's error through `onerror`
 * and answers the request with an error status, never with an empty 200 stream.
 */
export class McpResumeError extends EventStreamError<'ERR_SSE_MCP'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_MCP';

  readonly reason: McpErrorReason;
  /** The MCP session it concerns. */
  readonly session: string | undefined;

  constructor(reason: McpErrorReason, message: string, session?: string, cause?: unknown) {
    const where = session === undefined ? '' : ` (MCP session ${JSON.stringify(session.slice(0, 128))})`;
    super('ERR_SSE_MCP', `${message}${where}`, cause === undefined ? {} : { cause });
    this.reason = reason;
    this.session = session;
  }
}
