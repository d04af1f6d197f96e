import { ERROR_BRAND } from '../base/error-brand.js';
import { EventStreamError } from '../base/errors.js';

/** The `grip` option (a GRIP_URL, an object, or an array of them) or a GRIP retry option is invalid. */
export class GripConfigError extends EventStreamError<'ERR_GRIP_CONFIG'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_GRIP_CONFIG';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_GRIP_CONFIG', message, options);
  }
}

/**
 * Publishing a batch of events to a GRIP proxy failed after all retries, or the sink was closed
 * first. `url` is the proxy's publish endpoint (never carrying credentials); `status` and `body`
 * describe the last HTTP answer, if there was one.
 */
export class GripPublishError extends EventStreamError<'ERR_GRIP_PUBLISH'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_GRIP_PUBLISH';
  /** The publish endpoint, e.g. `http://127.0.0.1:5561/publish/`, without credentials. */
  readonly url: string;
  /** HTTP status of the last attempt; undefined for network errors, timeouts and closing. */
  readonly status: number | undefined;
  /** Response body of the last attempt (truncated to 1 KiB), if any. */
  readonly body: string | undefined;
  /** How many requests were made. */
  readonly attempts: number;
  /**
   * Every proxy that failed for this batch (this error first). Several proxies can fail the
   * same batch; the promise rejects with the first of them in configuration order.
   */
  failures: readonly GripPublishError[];

  constructor(
    url: string,
    message: string,
    options: ErrorOptions & { attempts: number; status?: number | undefined; body?: string | undefined },
  ) {
    super('ERR_GRIP_PUBLISH', message, options.cause === undefined ? undefined : { cause: options.cause });
    this.url = url;
    this.status = options.status;
    this.body = options.body;
    this.attempts = options.attempts;
    this.failures = [this];
  }
}
