// A reader's doorbell: a transport subscribed to the stream's channel through the hub (and so
// through the bus, on every process) that writes nothing anywhere and only rings when the hub
// hands it bytes. Readers then read the history itself, so what a client gets comes from one
// place, byte for byte the same on every process and for every reconnect.
import type { Subscriptions } from '../core/subscription.js';
import type { SharedWrite, Transport } from '../core/transport.js';

export class Doorbell implements Transport {
  #rung = false;
  #ring: (() => void) | undefined;
  #closeListener: (() => void) | undefined;
  #closed = false;
  /** Resolves at the first ring: the subscription is live (the bus delivers the channel). */
  readonly subscribed: Promise<void>;
  #subscribedResolve!: () => void;

  constructor(subscriptions: Subscriptions, channel: string) {
    this.subscribed = new Promise((resolve) => {
      this.#subscribedResolve = resolve;
    });
    // No Last-Event-ID: the first write is `stream-open`, sent once the bus delivers the channel.
    subscriptions.open(this, [channel], '', undefined);
  }

  /** Resolves at the next ring after the last `wait()`, or after `ms`, or when closed. */
  wait(ms: number): Promise<boolean> {
    if (this.#rung || this.#closed) {
      this.#rung = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#ring = undefined;
        resolve(false);
      }, ms);
      this.#ring = () => {
        clearTimeout(timer);
        this.#ring = undefined;
        resolve(true);
      };
    });
  }

  write(_out: SharedWrite): void {
    this.#subscribedResolve();
    const ring = this.#ring;
    if (ring === undefined) this.#rung = true;
    else ring();
  }

  bufferedBytes(): number {
    return 0;
  }

  needsDrain(): boolean {
    return false;
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  /** The hub ended the subscription (shutdown): the reader stops too. */
  end(): void {
    this.#shut();
  }

  reset(): void {
    this.#shut();
  }

  onClose(listener: () => void): void {
    this.#closeListener = listener;
  }

  detach(): void {
    this.#closeListener = undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The reader is done: leave the hub (the connection's release runs through the close listener). */
  close(): void {
    const listener = this.#closeListener;
    this.#shut();
    listener?.();
  }

  #shut(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscribedResolve();
    this.#ring?.();
  }
}
