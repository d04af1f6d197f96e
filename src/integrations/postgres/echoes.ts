// publish() of the Postgres bus waiting for its echo: a batch this process appended resolves once
// the bus has read (or delivered) past its last event on a subscribed channel, or after a bound
// (the event is stored; the next read delivers it). Each waiter's timer is cleared when it settles.

interface Waiter {
  readonly seq: number;
  readonly resolve: () => void;
}

export class Echoes {
  #waiting: Waiter[] = [];

  /** Resolves once settle() reaches `seq`, or after `timeoutMs`. */
  wait(seq: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiting.push({ seq, resolve: done });
    });
  }

  /** The bus has read up to `position`: every waiter at or below it resolves. */
  settle(position: number): void {
    if (this.#waiting.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiting) {
      if (w.seq <= position) w.resolve();
      else still.push(w);
    }
    this.#waiting = still;
  }
}
