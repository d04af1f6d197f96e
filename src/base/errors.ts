/**
 * The stable `code` of every error this package throws or rejects with. Match on it rather than on
 * messages, which may improve over time.
 */
export type ErrorCode =
  | 'ERR_SSE_INVALID_EVENT'
  | 'ERR_SSE_DATA_NOT_SERIALIZABLE'
  | 'ERR_SSE_INVALID_CHANNEL'
  | 'ERR_SSE_INVALID_OPTION'
  | 'ERR_SSE_EVENT_TOO_LARGE'
  | 'ERR_SSE_CLOSED'
  | 'ERR_SSE_STORE'
  | 'ERR_SSE_LISTENER'
  | 'ERR_SSE_NO_HISTORY'
  | 'ERR_GRIP_CONFIG'
  | 'ERR_GRIP_PUBLISH'
  | 'ERR_SSE_REDIS'
  | 'ERR_SSE_REDIS_DATA'
  | 'ERR_SSE_POSTGRES'
  | 'ERR_SSE_POSTGRES_DATA'
  | 'ERR_SSE_STREAM'
  | 'ERR_SSE_MCP';

import { ERROR_BRAND } from './error-brand.js';

// `instanceof` must hold when an app loads both the ESM and the CommonJS build (two copies of each
// class): an instance carries the brand on its prototype and its `code`; each class carries the
// code it stands for as a static under the same registered symbol.
type Branded = Record<typeof ERROR_BRAND, unknown> & { code?: unknown };

/**
 * Every error this library throws or rejects with is an `EventStreamError` with a stable `code`,
 * typed as its literal in each subclass. One constructor convention throughout: the class's own
 * fields first, then the message (left out where the fields say it all), then `{ cause }`.
 */
export class EventStreamError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /**
   * `instanceof` across copies of this package (ESM and CommonJS loaded side by side): true for
   * an instance of this class, or for an error of another copy carrying this class's code.
   */
  static override [Symbol.hasInstance]<T>(
    this: abstract new (
      ...args: never[]
    ) => T,
    value: unknown,
  ): value is T {
    // biome-ignore lint/complexity/noThisInStatic: the class on the right of instanceof, a subclass too
    return isInstance(this, value);
  }
}

Object.defineProperty(EventStreamError.prototype, ERROR_BRAND, { value: true });

function isInstance(cls: object, value: unknown): boolean {
  if (Function.prototype[Symbol.hasInstance].call(cls, value)) return true;
  if (value === null || typeof value !== 'object' || (value as Branded)[ERROR_BRAND] !== true) return false;
  if (cls === EventStreamError) return true;
  // Only a class's own code counts: a subclass without one matches nothing of another copy.
  const code = Object.hasOwn(cls, ERROR_BRAND) ? (cls as Branded)[ERROR_BRAND] : undefined;
  return code !== undefined && (value as Branded).code === code;
}

/** An event field is invalid: CR/LF in `event` or `id`, NUL in `id`, a bad `retry`, non-string raw data. */
export class InvalidEventError extends EventStreamError<'ERR_SSE_INVALID_EVENT'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_INVALID_EVENT';
  /** The offending field (`event`, `id`, `retry`, `data`, or `event` itself for a non-object). */
  readonly field: string;

  constructor(field: string, message: string, options?: ErrorOptions) {
    super('ERR_SSE_INVALID_EVENT', message, options);
    this.field = field;
  }
}

/** `data` cannot be JSON-encoded (a circular structure, a BigInt, a throwing `toJSON`). */
export class DataSerializationError extends EventStreamError<'ERR_SSE_DATA_NOT_SERIALIZABLE'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_DATA_NOT_SERIALIZABLE';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SSE_DATA_NOT_SERIALIZABLE', message, options);
  }
}

/** A channel name is empty, too long, or contains a control character, `,` or `;`. */
export class InvalidChannelError extends EventStreamError<'ERR_SSE_INVALID_CHANNEL'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_INVALID_CHANNEL';
  readonly channel: unknown;

  constructor(channel: unknown, message: string) {
    super('ERR_SSE_INVALID_CHANNEL', message);
    this.channel = channel;
  }
}

/** An option passed to `events()`, `express()` or `createHandler()` is invalid. */
export class InvalidOptionError extends EventStreamError<'ERR_SSE_INVALID_OPTION'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_INVALID_OPTION';
  readonly option: string;

  constructor(option: string, message: string) {
    super('ERR_SSE_INVALID_OPTION', message);
    this.option = option;
  }
}

/**
 * An event's SSE text is larger than `maxEventBytes`. Refused at `publish()`: once accepted, an
 * event must be deliverable to every client that keeps up.
 */
export class EventTooLargeError extends EventStreamError<'ERR_SSE_EVENT_TOO_LARGE'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_EVENT_TOO_LARGE';
  /** The event's size in bytes. */
  readonly size: number;
  /** The configured `maxEventBytes`. */
  readonly limit: number;

  constructor(size: number, limit: number) {
    super(
      'ERR_SSE_EVENT_TOO_LARGE',
      `the event is ${size} bytes, more than maxEventBytes (${limit}); raise maxEventBytes to allow it`,
    );
    this.size = size;
    this.limit = limit;
  }
}

/** `publish()` was called after `events.close()`. */
export class EventsClosedError extends EventStreamError<'ERR_SSE_CLOSED'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_CLOSED';
  constructor() {
    super('ERR_SSE_CLOSED', 'This Events object has been closed; it no longer publishes.');
  }
}

/** The event store failed to append or read: the publish rejects, a resuming client retries. */
export class EventStoreError extends EventStreamError<'ERR_SSE_STORE'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_STORE';
  constructor(options: ErrorOptions) {
    super('ERR_SSE_STORE', `the event store failed: ${describe(options.cause)}`, options);
  }
}

/** GRIP reliable-mode recovery was asked of a namespace without history. */
export class NoHistoryError extends EventStreamError<'ERR_SSE_NO_HISTORY'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_NO_HISTORY';
  constructor() {
    super('ERR_SSE_NO_HISTORY', 'recovery needs the history');
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * A `connect`, `disconnect`, `error` (or a Channel's `publishError`) listener threw or returned a
 * rejected promise. The library caught it and carried on; this reports it (`cause` is what was
 * thrown) as an `'error'` event, or as a process warning when nobody listens to `'error'`.
 */
export class ListenerError extends EventStreamError<'ERR_SSE_LISTENER'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_LISTENER';
  /** The event whose listener failed. */
  readonly event: string;

  constructor(event: string, options: ErrorOptions) {
    super('ERR_SSE_LISTENER', `a '${event}' listener threw: ${describe(options.cause)}`, options);
    this.event = event;
  }
}

/**
 * Why a response stream refused, or why its `signal` aborted: a bad id, an id in use, a stream that
 * ended, was stopped by a client, was declared failed (`fail()`), whose namespace closed, or that
 * a reader declared lost while its producer stalled past the heartbeat lease.
 */
export type ResponseStreamProblem =
  | 'invalid-id'
  | 'exists'
  | 'ended'
  | 'stopped'
  | 'failed'
  | 'closed'
  | 'lost'
  | 'too-long'
  | 'no-history';

/**
 * A response stream (`events.stream(id)`) refused an operation, or the reason its `signal` aborted
 * (then named `AbortError`, as fetch and the AI SDK expect of a cancellation); `streamId` names it.
 */
export class ResponseStreamError extends EventStreamError<'ERR_SSE_STREAM'> {
  /** @internal */
  static readonly [ERROR_BRAND] = 'ERR_SSE_STREAM';
  readonly streamId: string;
  readonly problem: ResponseStreamProblem;

  constructor(streamId: string, problem: ResponseStreamProblem, message: string) {
    super('ERR_SSE_STREAM', `response stream ${JSON.stringify(streamId)}: ${message}`);
    this.streamId = streamId;
    this.problem = problem;
  }
}
