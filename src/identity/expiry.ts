// When tokens expire: one min-heap of deadlines per namespace, swept by one timer set for the
// earliest, instead of a timer per stream. A stream leaves the heap when it ends (O(log n), by its
// index), so nothing is pinned by streams that are gone.

/** Node's setTimeout ceiling: later deadlines are reached in steps. */
const MAX_DELAY_MS = 2_147_483_647;

export class ExpiryHeap<T> {
  readonly #heap: Array<{ at: number; item: T }> = [];
  readonly #index = new Map<T, number>();
  readonly #expire: (item: T) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  /** `expire` is called once per item whose deadline passed (it was removed first). */
  constructor(expire: (item: T) => void) {
    this.#expire = expire;
  }

  get size(): number {
    return this.#heap.length;
  }

  /** Expire `item` at `at` (ms since the epoch). */
  add(item: T, at: number): void {
    this.remove(item);
    this.#heap.push({ at, item });
    this.#index.set(item, this.#heap.length - 1);
    this.#up(this.#heap.length - 1);
    this.#arm();
  }

  remove(item: T): void {
    const i = this.#index.get(item);
    if (i === undefined) return;
    this.#index.delete(item);
    const last = this.#heap.pop()!;
    if (i < this.#heap.length) {
      this.#heap[i] = last;
      this.#index.set(last.item, i);
      this.#down(this.#up(i));
    }
    if (this.#heap.length === 0) this.#disarm();
  }

  /** Forget everything and stop the timer. */
  clear(): void {
    this.#heap.length = 0;
    this.#index.clear();
    this.#disarm();
  }

  #sweep(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) {
      const { item } = this.#heap[0]!;
      this.remove(item);
      this.#expire(item);
    }
    this.#arm();
  }

  // One timer, for the earliest deadline; re-set only when that deadline moved earlier.
  #arm(): void {
    const first = this.#heap[0];
    if (first === undefined || first.at >= this.#timerAt) return;
    this.#disarm();
    this.#timerAt = first.at;
    this.#timer = setTimeout(() => this.#sweep(), Math.min(Math.max(0, first.at - Date.now()), MAX_DELAY_MS));
    this.#timer.unref?.();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #up(i: number): number {
    const heap = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      this.#swap(i, parent);
      i = parent;
    }
    return i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && heap[left]!.at < heap[least]!.at) least = left;
      if (right < heap.length && heap[right]!.at < heap[least]!.at) least = right;
      if (least === i) return;
      this.#swap(i, least);
      i = least;
    }
  }

  #swap(a: number, b: number): void {
    const heap = this.#heap;
    const x = heap[a]!;
    heap[a] = heap[b]!;
    heap[b] = x;
    this.#index.set(heap[a]!.item, a);
    this.#index.set(x.item, b);
  }
}
