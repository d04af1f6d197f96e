// A wake-up of the Postgres bus that may announce this process' own append before the append's
// answer is back (NOTIFY can outrun the reply): reading then would read the batch back, a statement
// per publish. Instead the read waits until the appends in flight at that moment are answered and
// delivered without a read (bus.ts, deliverOwn), and happens only if the position is still below
// the announced head (another process' event, a failed append). Later appends do not hold it up.

export class DeferredWake {
  readonly #read: () => void;
  readonly #position: () => number | undefined;
  #head = 0;
  #waiting = false;
  #stopped = false;

  /** `read` wakes the reader; `position` is how far the bus has read. */
  constructor(read: () => void, position: () => number | undefined) {
    this.#read = read;
    this.#position = position;
  }

  /**
   * Reads `head` once `settled` (the appends in flight now) has settled, unless read past by then.
   * False (read now): no append in flight.
   */
  defer(head: number, settled: Promise<unknown> | undefined): boolean {
    if (settled === undefined) return false;
    this.#head = Math.max(this.#head, head);
    if (this.#waiting) return true;
    this.#waiting = true;
    void settled.then(() =>
      // After the pipeline's microtasks: the answered append's own delivery comes first.
      setImmediate(() => {
        this.#waiting = false;
        const head = this.#head;
        this.#head = 0;
        if (!this.#stopped && (this.#position() ?? 0) < head) this.#read();
      }),
    );
    return true;
  }

  stop(): void {
    this.#stopped = true;
  }
}
