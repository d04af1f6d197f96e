// The options of publish(): validated where the event is, so a bad one rejects that publish only.
import { InvalidOptionError } from '../base/errors.js';

/** The options of `publish()`. */
export interface PublishOptions {
  /**
   * Publish at most once per key: a publish with a key the history has seen within its
   * idempotency window (memory store: 5 minutes, at most 10,000 keys; Redis: 5 minutes, one key
   * each) is not stored or delivered again, and resolves. For a client retrying a request whose
   * answer was lost. 1-200 printable ASCII characters, no spaces; needs the history.
   */
  idempotencyKey?: string;
}

/** An idempotency key: printable ASCII without spaces (it names a Redis key, never a wire field). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

/** The idempotency key of `options`, validated; undefined without one. */
export function idempotencyKey(options: PublishOptions | undefined, history: boolean): string | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', 'publish() options must be an object like { idempotencyKey }');
  }
  for (const name of Object.keys(options)) {
    if (name !== 'idempotencyKey') {
      throw new InvalidOptionError(name, `unknown publish() option '${name}' (valid: idempotencyKey)`);
    }
  }
  const key: unknown = options.idempotencyKey;
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) {
    throw new InvalidOptionError(
      'idempotencyKey',
      'idempotencyKey must be 1-200 printable ASCII characters without spaces',
    );
  }
  if (!history) {
    throw new InvalidOptionError('idempotencyKey', 'idempotencyKey needs the event history (history: false)');
  }
  return key;
}
