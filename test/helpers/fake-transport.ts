// A Transport that records writes and lets a test control backpressure and the peer going away
// (for unit tests of ChannelRegistry and Connection without sockets).
import type { SharedWrite, Transport } from '../../src/core/transport.js';

export class FakeTransport implements Transport {
  readonly writes: string[] = [];
  /** Bytes "in the kernel": a test raises it to simulate a client that does not read. */
  buffered = 0;
  ended = false;
  resets = 0;
  detached = false;
  #onClose: (() => void) | undefined;
  #drainWaiters: Array<() => void> = [];

  write(out: SharedWrite): void {
    this.writes.push(out.payload.toString());
  }
  bufferedBytes(): number {
    return this.buffered;
  }
  needsDrain(): boolean {
    return this.buffered > 0;
  }
  drained(): Promise<void> {
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }
  /** The client took everything. */
  drain(): void {
    this.buffered = 0;
    for (const w of this.#drainWaiters.splice(0)) w();
  }
  end(): void {
    this.ended = true;
  }
  reset(): void {
    this.resets++;
  }
  onClose(listener: () => void): void {
    this.#onClose = listener;
  }
  detach(): void {
    this.detached = true;
    this.#onClose = undefined;
  }
  /** The peer went away. */
  close(): void {
    this.#onClose?.();
    for (const w of this.#drainWaiters.splice(0)) w();
  }
  get text(): string {
    return this.writes.join('');
  }
}
