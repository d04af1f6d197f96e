// publish() on the Redis bus resolves once this process delivered the batch's events, which it
// does only when they come back from Redis (see bus.ts): the callers waiting for that echo.

interface Waiter {
  readonly channel: string;
  readonly seq: number;
  readonly resolve: () => void;
}

/** Where a channel stands: the seq delivered last, undefined until placed, null when not subscribed. */
export type Position = (channel: string) => number | undefined | null;

export class Echoes {
  readonly #waiters = new Set<Waiter>();
  readonly #position: Position;

  constructor(position: Position) {
    this.#position = position;
  }

  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Resolves once each event of `batch` on a subscribed channel has been delivered here, or after
   * `timeoutMs`: the event is stored, and a sync will deliver it or reset its channel.
   */
  wait(
    batch: ReadonlyArray<{ readonly channel: string; readonly seq?: number | undefined }>,
    timeoutMs: number,
  ): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const ev of batch) {
      const seq = ev.seq;
      const last = this.#position(ev.channel);
      if (last === null || seq === undefined || (last !== undefined && last >= seq)) continue;
      waits.push(new Promise<void>((resolve) => this.#waiters.add({ channel: ev.channel, seq, resolve })));
    }
    if (waits.length === 0) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    return Promise.race([Promise.all(waits).then(() => undefined), timeout]).finally(() =>
      clearTimeout(timer),
    );
  }

  /** Resolve the waiters whose events are now delivered here (or never will be: unsubscribed). */
  settleDelivered(): void {
    if (this.#waiters.size === 0) return;
    for (const w of this.#waiters) {
      const last = this.#position(w.channel);
      if (last === null || (last !== undefined && last >= w.seq)) this.#settle(w);
    }
  }

  /** The bus closes: nobody waits any longer. */
  settleAll(): void {
    for (const w of this.#waiters) this.#settle(w);
  }

  #settle(w: Waiter): void {
    this.#waiters.delete(w);
    w.resolve();
  }
}
