import { EventStreamError } from 'express-eventstream';
import { ERROR_BRAND } from '../core/error-brand.js';

/**
 * Redis could not be reached or failed a command. A publish whose append failed with it rejects
 * (wrapped by the core as `ERR_SSE_STORE`); an append that timed out may still have been stored.
 * The message names the endpoint (its URL without the password) and the cause, e.g. the refused
 * connection rather than the command that gave up because of it.
 */
export class RedisUnavailableError extends EventStreamError<'ERR_SSE_REDIS'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_REDIS';

  /** The Redis the operation went to: its URL without the password (or a socket path). */
  readonly endpoint: string | undefined;

  constructor(operation: string, options: { cause?: unknown; endpoint?: string | undefined }) {
    const { cause, endpoint } = options;
    const where = endpoint === undefined ? '' : ` at ${endpoint}`;
    super('ERR_SSE_REDIS', `Redis ${operation} failed${where}: ${describe(cause)}`, { cause });
    this.endpoint = endpoint;
  }
}

function describe(cause: unknown): string {
  const text = cause instanceof Error ? cause.message : String(cause);
  // One line: a message is logged and may end up in an SSE comment or a log line.
  return text.replace(/[\r\n]+/g, ' ');
}
