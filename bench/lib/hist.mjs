// A log-bucketed latency histogram (≈ 2 % resolution from 1 µs to ~ 10 min) with an exact max:
// millions of (client, event) latencies per run cost one array increment each.

const MIN_MS = 0.001;
const GROWTH = 1.02;
const LOG_G = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(600_000 / MIN_MS) / LOG_G) + 2;

export class Histogram {
  constructor() {
    this.counts = new Float64Array(BUCKETS);
    this.n = 0;
    this.max = 0;
    this.sum = 0;
  }

  /** @param {number} ms */
  add(ms) {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(ms / MIN_MS) / LOG_G));
    this.counts[i]++;
    this.n++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  /** Adds every sample of `other` (a Histogram) to this one. */
  merge(other) {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.n += other.n;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  /** Upper edge of the bucket holding the p-th percentile (ms). */
  percentile(p) {
    if (this.n === 0) return Number.NaN;
    const rank = Math.ceil((p / 100) * this.n);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.max, i === 0 ? MIN_MS : MIN_MS * GROWTH ** i);
    }
    return this.max;
  }

  summary() {
    return {
      n: this.n,
      p50: this.percentile(50),
      p99: this.percentile(99),
      max: this.max,
      mean: this.n ? this.sum / this.n : Number.NaN,
    };
  }
}
