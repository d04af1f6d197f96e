// A job run on wake-ups, coalesced: one run at a time, and any number of wake-ups during a run
// make exactly one more run after it. `next()` waits for a run that starts after the call.
interface Waiter {
  readonly run: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class Wakeable {
  readonly #job: () => Promise<void>;
  #running: Promise<void> | undefined;
  #pending = false;
  #stopped = false;
  /** Runs started so far (the current one's number while one runs). */
  #started = 0;
  #waiters: Waiter[] = [];

  constructor(job: () => Promise<void>) {
    this.#job = job;
  }

  /** Whether a run is in progress. */
  get running(): boolean {
    return this.#running !== undefined;
  }

  wake(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) this.#pending = true;
    else this.#start();
  }

  /** Resolves when a run that started after this call finished; rejects when that run failed. */
  next(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const run = this.#started + 1;
    const p = new Promise<void>((resolve, reject) => this.#waiters.push({ run, resolve, reject }));
    this.wake();
    return p;
  }

  /** No more runs; waiters resolve. */
  stop(): void {
    this.#stopped = true;
    this.#pending = false;
    for (const w of this.#waiters.splice(0)) w.resolve();
  }

  /** Resolves when no run is in progress. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  #start(): void {
    const run = ++this.#started;
    this.#running = this.#job().then(
      () => this.#finish(run, undefined),
      (err: unknown) => this.#finish(run, err ?? new Error('failed')),
    );
  }

  #finish(run: number, error: unknown): void {
    const later: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.run > run) later.push(w);
      else if (error === undefined) w.resolve();
      else w.reject(error);
    }
    this.#waiters = later;
    this.#running = undefined;
    if (this.#pending && !this.#stopped) {
      this.#pending = false;
      this.#start();
    }
  }
}
