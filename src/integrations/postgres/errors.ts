import { EventStreamError } from 'express-eventstream';
import { ERROR_BRAND } from '../../base/error-brand.js';

/** What a failed append left behind: nothing (`'not-stored'`), or nobody can tell (`'unknown'`). */
export type PostgresAppendOutcome = 'not-stored' | 'unknown';

/**
 * PostgreSQL could not be reached, had no free connection in time, or failed a statement. A
 * publish whose append failed with it rejects (wrapped by the core as `ERR_SSE_STORE`). `outcome`
 * (appends only) says what was stored: `'not-stored'`, or `'unknown'` when the connection was lost
 * after the statement was sent (its commit may or may not have happened). The message names the
 * endpoint (its URL without the password) and the cause.
 */
export class PostgresUnavailableError extends EventStreamError<'ERR_SSE_POSTGRES'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_POSTGRES';

  /** The server the operation went to: its URL without the password. */
  readonly endpoint: string;
  /** Appends: what was stored; undefined for other operations. */
  readonly outcome: PostgresAppendOutcome | undefined;

  constructor(
    operation: string,
    options: { cause?: unknown; endpoint: string; outcome?: PostgresAppendOutcome | undefined },
  ) {
    const { cause, endpoint, outcome } = options;
    const unknown = outcome === 'unknown' ? ' (outcome unknown: the connection was lost after sending)' : '';
    super('ERR_SSE_POSTGRES', `PostgreSQL ${operation} failed at ${endpoint}${unknown}: ${describe(cause)}`, {
      cause,
    });
    this.endpoint = endpoint;
    this.outcome = outcome;
  }
}

/**
 * A table of the store holds data this library did not write (an invalid epoch, sequence or
 * event text). `table` names it; nothing of it was sent to any client.
 */
export class PostgresDataError extends EventStreamError<'ERR_SSE_POSTGRES_DATA'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_POSTGRES_DATA';

  /** The table holding the foreign data. */
  readonly table: string;

  constructor(operation: string, table: string, problem: string) {
    super('ERR_SSE_POSTGRES_DATA', `PostgreSQL ${operation} refused: table '${table}' ${problem}`);
    this.table = table;
  }
}

function describe(cause: unknown): string {
  const text = cause instanceof Error ? cause.message : String(cause);
  // One line: a message is logged and may end up in an SSE comment or a log line.
  return text.replace(/[\r\n]+/g, ' ').slice(0, 300);
}
