// The namespace's end of its control channel: features register a handler per topic, and every
// message received (from any process, this one included) goes to its topic's handlers. A handler
// that throws is reported, never allowed to stop the others or the channel.
import type { ControlChannel, ControlSink, JsonValue } from './control.js';

type Handler = (payload: unknown) => void;

/** Dispatches received control messages by topic, and sends through the engine's channel. */
export class ControlRouter implements ControlSink {
  readonly #handlers = new Map<string, Set<Handler>>();
  readonly #resyncs = new Set<() => void>();
  readonly #channel: ControlChannel;
  readonly #report: (error: Error) => void;

  constructor(channel: ControlChannel, report: (error: Error) => void) {
    this.#channel = channel;
    this.#report = report;
  }

  /** Send to every process of the namespace (this one included). */
  send(topic: string, payload: JsonValue): Promise<void> {
    return this.#channel.send(topic, payload);
  }

  /** Handle `topic`'s messages (payloads are foreign data: validate them); returns the off switch. */
  on(topic: string, handler: Handler): () => void {
    let set = this.#handlers.get(topic);
    if (set === undefined) {
      set = new Set();
      this.#handlers.set(topic, set);
    }
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0) this.#handlers.delete(topic);
    };
  }

  /** Called after the channel was down: re-read what must not be missed from shared state. */
  onResync(listener: () => void): () => void {
    this.#resyncs.add(listener);
    return () => this.#resyncs.delete(listener);
  }

  receive(topic: string, payload: unknown): void {
    const handlers = this.#handlers.get(topic);
    if (handlers === undefined) return;
    for (const handler of [...handlers]) this.#guard(() => handler(payload));
  }

  resync(): void {
    for (const listener of [...this.#resyncs]) this.#guard(listener);
  }

  report(error: Error): void {
    this.#report(error);
  }

  #guard(run: () => void): void {
    try {
      run();
    } catch (err) {
      this.#report(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
