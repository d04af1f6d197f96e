// When the Redis bus syncs from the store: one round at a time, another as soon as one was asked
// for meanwhile, and after a failure (Redis unreachable) again after a delay that doubles from
// 50 ms to 2 s, until a round succeeds.

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2000;

export class SyncLoop {
  readonly #round: () => Promise<boolean>;
  readonly #failed: (err: unknown) => void;
  #running = false;
  #wanted = false;
  #stopped = false;
  #retryMs = RETRY_MIN_MS;
  #retryTimer: NodeJS.Timeout | undefined;

  /**
   * `round` syncs once; false when it cannot start yet (the subscriber connection is not ready:
   * its 'ready' requests the next round). `failed` gets what a round threw.
   */
  constructor(round: () => Promise<boolean>, failed: (err: unknown) => void) {
    this.#round = round;
    this.#failed = failed;
  }

  /** A round is running or waiting to retry: events that arrive meanwhile wait for it. */
  get running(): boolean {
    return this.#running;
  }

  request(): void {
    if (this.#stopped) return;
    this.#wanted = true;
    if (this.#running) return;
    this.#running = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    void this.#loop();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
  }

  async #loop(): Promise<void> {
    try {
      while (this.#wanted && !this.#stopped) {
        this.#wanted = false;
        if (!(await this.#round())) {
          this.#wanted = true;
          break;
        }
      }
      if (!this.#wanted) this.#retryMs = RETRY_MIN_MS;
      this.#running = false;
    } catch (err) {
      // Keep buffering (running stays true) and retry.
      this.#wanted = true;
      if (this.#stopped) return;
      this.#failed(err);
      this.#retryTimer = setTimeout(() => {
        this.#running = false;
        this.request();
      }, this.#retryMs);
      this.#retryTimer.unref();
      this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
    }
  }
}
