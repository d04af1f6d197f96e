// Cross-process control messages: what features above the event log tell every process of a
// namespace — "close this user's streams" (revocation), "stop this generation" (response streams),
// "a member joined" (presence). Not events: no ids, no history, no replay. A control channel
// delivers each message at most once to every process listening when it is sent, this one
// included; a process that was disconnected meanwhile is told to resync (`ControlSink.resync`),
// and features keep whatever must survive that in `SharedState`, re-reading it on resync.
import { InvalidOptionError } from '../base/errors.js';

/** A value that survives `JSON.stringify` / `JSON.parse` unchanged. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** Where a control channel delivers: the namespace's router (`events()` gives it to `start()`). */
export interface ControlSink {
  /**
   * A message from some process (this one included). `payload` is parsed JSON from a shared
   * service, so features validate it before use: a foreign process may write into our keys.
   */
  receive(topic: string, payload: unknown): void;
  /** The channel was down and may have missed messages: features re-read their shared state. */
  resync?(): void;
  /** The channel failed on its own (its service is unreachable): emitted as the Events' `'error'`. */
  report?(error: Error): void;
}

/**
 * Sends control messages to every process of a namespace. Implementations: `LocalControl` (this
 * process only, the default), the Redis and Postgres engines' (`redis()`, `postgres()`).
 */
export interface ControlChannel {
  /** Called once by `events()`, before anything else: where received messages go. */
  start(sink: ControlSink): Promise<void> | void;
  /**
   * Send `payload` on `topic` to every listening process, this one included. Resolves once the
   * shared service accepted it; rejects (typed, naming the endpoint) when it cannot be sent.
   */
  send(topic: string, payload: JsonValue): Promise<void>;
  close(): Promise<void>;
}

/** Longest topic; topics are the library's own names (`revoke`, `stream-stop`, ...). */
export const MAX_CONTROL_TOPIC_LENGTH = 64;
/** Largest payload as JSON text: under Postgres' 8,000-byte NOTIFY limit with room for framing. */
export const MAX_CONTROL_PAYLOAD_BYTES = 7000;
const TOPIC = /^[a-z][a-z0-9.-]*$/;

/**
 * A control message as one line of JSON text (`{"t":topic,"p":payload}`), after checking the
 * topic and the size: what every shared implementation sends.
 */
export function encodeControlMessage(topic: string, payload: JsonValue): string {
  if (typeof topic !== 'string' || topic.length > MAX_CONTROL_TOPIC_LENGTH || !TOPIC.test(topic)) {
    throw new InvalidOptionError(
      'topic',
      `a control topic must match ${TOPIC} (at most ${MAX_CONTROL_TOPIC_LENGTH} characters)`,
    );
  }
  let text: string | undefined;
  try {
    text = JSON.stringify({ t: topic, p: payload });
  } catch (err) {
    throw new InvalidOptionError(
      'payload',
      `a control payload must be JSON-serializable (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  if (text === undefined || Buffer.byteLength(text) > MAX_CONTROL_PAYLOAD_BYTES) {
    throw new InvalidOptionError(
      'payload',
      `a control message must be at most ${MAX_CONTROL_PAYLOAD_BYTES} bytes of JSON`,
    );
  }
  return text;
}

/**
 * The message a shared implementation received, or undefined when the text is not one (foreign
 * or corrupt data in our keys is dropped, never delivered).
 */
export function decodeControlMessage(text: unknown): { topic: string; payload: unknown } | undefined {
  if (typeof text !== 'string' || text.length > MAX_CONTROL_PAYLOAD_BYTES * 4) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const { t, p } = parsed as { t?: unknown; p?: unknown };
  if (typeof t !== 'string' || t.length > MAX_CONTROL_TOPIC_LENGTH || !TOPIC.test(t) || p === undefined)
    return undefined;
  return { topic: t, payload: p };
}

/**
 * The in-process control channel: `send()` delivers to this process's sink on a later microtask
 * (as a shared service would: never inside the sender's call), through the same JSON text.
 */
export class LocalControl implements ControlChannel {
  #sink: ControlSink | undefined;
  #closed = false;

  start(sink: ControlSink): void {
    this.#sink = sink;
  }

  send(topic: string, payload: JsonValue): Promise<void> {
    const text = encodeControlMessage(topic, payload);
    if (this.#closed) return Promise.resolve();
    queueMicrotask(() => {
      const message = decodeControlMessage(text);
      if (message !== undefined && !this.#closed) this.#sink?.receive(message.topic, message.payload);
    });
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
