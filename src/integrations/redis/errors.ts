import { EventStreamError } from 'express-eventstream';
import { ERROR_BRAND } from '../../base/error-brand.js';

/** What a failed append left behind: nothing (`'not-stored'`), or nobody can tell (`'unknown'`). */
export type AppendOutcomeKind = 'not-stored' | 'unknown';

/**
 * Redis could not be reached or failed a command. A publish whose append failed with it rejects
 * (wrapped by the core as `ERR_SSE_STORE`). `outcome` (appends only) says what was stored:
 * `'not-stored'`, or `'unknown'` when Redis stayed unreachable for the whole retry window after a
 * request whose reply was lost (see `appendTimeoutMs`). The message names the endpoint (its URL
 * without the password) and the cause, e.g. the refused connection rather than the command that
 * gave up because of it.
 */
export class RedisUnavailableError extends EventStreamError<'ERR_SSE_REDIS'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_REDIS';

  /** The Redis the operation went to: its URL without the password (or a socket path). */
  readonly endpoint: string | undefined;
  /** Appends: what was stored (`'not-stored'`, or `'unknown'`); undefined for other operations. */
  readonly outcome: AppendOutcomeKind | undefined;

  constructor(
    operation: string,
    options: { cause?: unknown; endpoint?: string | undefined; outcome?: AppendOutcomeKind },
  ) {
    const { cause, endpoint, outcome } = options;
    const where = endpoint === undefined ? '' : ` at ${endpoint}`;
    const unknown = outcome === 'unknown' ? ' (outcome unknown: Redis did not answer in time)' : '';
    super('ERR_SSE_REDIS', `Redis ${operation} failed${where}${unknown}: ${describe(cause)}`, { cause });
    this.endpoint = endpoint;
    this.outcome = outcome;
  }
}

/**
 * A key of the store holds data this library did not write (a wrong type, an invalid epoch or
 * sequence, or a stream entry in the way of the next id). Nothing was written; `key` names it.
 */
export class RedisDataError extends EventStreamError<'ERR_SSE_REDIS_DATA'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_REDIS_DATA';

  /** The key holding the foreign data. */
  readonly key: string;

  constructor(operation: string, key: string, problem: string) {
    super('ERR_SSE_REDIS_DATA', `Redis ${operation} refused: key '${key}' ${problem}; nothing was written`);
    this.key = key;
  }
}

function describe(cause: unknown): string {
  const text = cause instanceof Error ? cause.message : String(cause);
  // One line: a message is logged and may end up in an SSE comment or a log line.
  return text.replace(/[\r\n]+/g, ' ');
}
