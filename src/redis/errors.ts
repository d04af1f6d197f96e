import { EventStreamError } from 'express-eventstream';

/**
 * Redis could not be reached or failed a command. A publish whose append failed with it rejects
 * (wrapped by the core as `ERR_SSE_STORE`); an append that timed out may still have been stored.
 */
export class RedisUnavailableError extends EventStreamError<'ERR_SSE_REDIS'> {
  constructor(operation: string, options: { cause?: unknown }) {
    const { cause } = options;
    super(
      'ERR_SSE_REDIS',
      `Redis ${operation} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
  }
}
