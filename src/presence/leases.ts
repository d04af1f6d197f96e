// Leases on the other processes' streams: a process that holds presence streams says it is alive
// (any presence message, at least every ttlMs / 3); one silent for ttlMs has died (`kill -9`, a
// lost host), and its streams leave every view at once. A dead process is remembered for a ttl so
// a reload does not bring its entries back from the state before they expire there; a message
// from it later means it was only slow, and the views are reloaded.

interface Lease {
  lastSeen: number;
  /** Its streams in this process's views, as `channel \n key`. */
  readonly refs: Set<string>;
}

export class Leases {
  readonly #ttlMs: number;
  readonly #leases = new Map<string, Lease>();
  /** Owners declared dead, until when to ignore their state entries. */
  readonly #dead = new Map<string, number>();

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  /**
   * `owner` spoke (a message). Returns true when it had been declared dead: it was slow, not gone,
   * and the views must be reloaded to get its streams back.
   */
  heard(owner: string, now: number): boolean {
    const revived = this.#dead.delete(owner);
    const lease = this.#leases.get(owner);
    if (lease === undefined) this.#leases.set(owner, { lastSeen: now, refs: new Set() });
    else lease.lastSeen = now;
    return revived;
  }

  /**
   * `owner` was found in the state, not heard: an owner never heard gets half a ttl to speak (a
   * live process refreshes every third of it), so a crashed one found by a late reload goes soon.
   */
  found(owner: string, now: number): void {
    if (!this.#leases.has(owner))
      this.#leases.set(owner, { lastSeen: now - this.#ttlMs / 2, refs: new Set() });
  }

  isDead(owner: string): boolean {
    return this.#dead.has(owner);
  }

  attach(owner: string, channel: string, key: string): void {
    this.#leases.get(owner)?.refs.add(`${channel}\n${key}`);
  }

  detach(owner: string, channel: string, key: string): void {
    this.#leases.get(owner)?.refs.delete(`${channel}\n${key}`);
  }

  /** `owner` said goodbye (a clean close): its streams go now. */
  gone(owner: string, now: number): Array<[channel: string, key: string]> {
    return this.#expire(owner, now);
  }

  /** The streams of every owner silent for more than a ttl; forgets dead owners after a ttl. */
  sweep(now: number): Array<[channel: string, key: string]> {
    for (const [owner, until] of this.#dead) if (until <= now) this.#dead.delete(owner);
    const out: Array<[string, string]> = [];
    for (const [owner, lease] of this.#leases)
      if (now - lease.lastSeen > this.#ttlMs) for (const ref of this.#expire(owner, now)) out.push(ref);
    return out;
  }

  #expire(owner: string, now: number): Array<[string, string]> {
    const lease = this.#leases.get(owner);
    this.#leases.delete(owner);
    this.#dead.set(owner, now + this.#ttlMs);
    if (lease === undefined) return [];
    return [...lease.refs].map((ref) => {
      const cut = ref.indexOf('\n');
      return [ref.slice(0, cut), ref.slice(cut + 1)];
    });
  }
}
