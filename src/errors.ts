/**
 * Every error this library throws or rejects with is an `EventStreamError` with a stable `code`.
 * Match on `code` rather than on messages, which may improve over time.
 */
export class EventStreamError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An event field is invalid: CR/LF in `event` or `id`, NUL in `id`, a bad `retry`, non-string raw data. */
export class InvalidEventError extends EventStreamError {
  /** The offending field (`event`, `id`, `retry`, `data`, or `event` itself for a non-object). */
  readonly field: string;

  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super('ERR_SSE_INVALID_EVENT', message, options);
    this.field = field;
  }
}

/** `data` cannot be JSON-encoded (a circular structure, a BigInt, a throwing `toJSON`). */
export class DataSerializationError extends EventStreamError {
  constructor(message: string, cause: unknown) {
    super('ERR_SSE_DATA_NOT_SERIALIZABLE', message, { cause });
  }
}

/** A channel name is empty, too long, or contains a control character, `,` or `;`. */
export class InvalidChannelError extends EventStreamError {
  readonly channel: unknown;

  constructor(channel: unknown, message: string) {
    super('ERR_SSE_INVALID_CHANNEL', message);
    this.channel = channel;
  }
}

/** An option passed to `events()`, `express()` or `createHandler()` is invalid. */
export class InvalidOptionError extends EventStreamError {
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
export class EventTooLargeError extends EventStreamError {
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
export class EventsClosedError extends EventStreamError {
  constructor() {
    super('ERR_SSE_CLOSED', 'This Events object has been closed; it no longer publishes.');
  }
}

/** The event store failed to append or read: the publish rejects, a resuming client retries. */
export class EventStoreError extends EventStreamError {
  constructor(cause: unknown) {
    super(
      'ERR_SSE_STORE',
      `the event store failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
  }
}

/**
 * A `connect`, `disconnect`, `error` (or a Channel's `publishError`) listener threw or returned a
 * rejected promise. The library caught it and carried on; this reports it (`cause` is what was
 * thrown) as an `'error'` event, or as a process warning when nobody listens to `'error'`.
 */
export class ListenerError extends EventStreamError {
  /** The event whose listener failed. */
  readonly event: string;

  constructor(event: string, cause: unknown) {
    super(
      'ERR_SSE_LISTENER',
      `a '${event}' listener threw: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.event = event;
  }
}
