// The channel registry: which connections listen to which channel, and fan-out of each batch.
import { type Connection, Outgoing } from './connection.js';
import type { EncodedEvent } from './types.js';

export class Hub {
  #byChannel = new Map<string, Set<Connection>>();
  #all = new Set<Connection>();
  #flushMark = 0;
  #keepAlive: Outgoing | undefined;
  #keepAliveMs: number;
  #sweepTimer: NodeJS.Timeout | undefined;

  /** `keepAliveBytes` is sent after `keepAliveMs` of silence; undefined disables keep-alive. */
  constructor(keepAliveBytes: Buffer | undefined, keepAliveMs: number) {
    this.#keepAlive = keepAliveBytes && new Outgoing(keepAliveBytes, 0);
    this.#keepAliveMs = keepAliveMs;
  }

  get size(): number {
    return this.#all.size;
  }

  add(conn: Connection): void {
    this.#all.add(conn);
    for (const channel of conn.channels) {
      let set = this.#byChannel.get(channel);
      if (set === undefined) {
        set = new Set();
        this.#byChannel.set(channel, set);
      }
      set.add(conn);
    }
    if (this.#keepAlive !== undefined && this.#sweepTimer === undefined) {
      // One timer for all connections: per-connection timers would cost a refresh per write.
      // Checking every quarter interval bounds the silence between 1× and 1.25× keepAliveMs.
      this.#sweepTimer = setInterval(this.#sweep, Math.max(1, Math.floor(this.#keepAliveMs / 4)));
      this.#sweepTimer.unref();
    }
  }

  remove(conn: Connection): void {
    if (!this.#all.delete(conn)) return;
    for (const channel of conn.channels) {
      const set = this.#byChannel.get(channel);
      if (set === undefined) continue;
      set.delete(conn);
      if (set.size === 0) this.#byChannel.delete(channel);
    }
    if (this.#all.size === 0 && this.#sweepTimer !== undefined) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = undefined;
    }
  }

  /**
   * Write a batch (events published in one tick, in publish order) to every subscriber. Each
   * connection gets one write holding exactly its events; connections subscribed to the same
   * channel set share one buffer.
   */
  deliver(batch: readonly EncodedEvent[]): void {
    const now = Date.now();
    if (batch.length === 1) {
      const ev = batch[0]!;
      const set = this.#byChannel.get(ev.channel);
      if (set === undefined) return;
      const out = new Outgoing(ev.bytes, 1);
      for (const conn of set) {
        if (conn.holding) conn.holdEvent(ev);
        else conn.send(out, now);
      }
      return;
    }
    const mark = ++this.#flushMark;
    const touched: Connection[] = [];
    for (const ev of batch) {
      const set = this.#byChannel.get(ev.channel);
      if (set === undefined) continue;
      for (const conn of set) {
        if (conn.mark !== mark) {
          conn.mark = mark;
          touched.push(conn);
        }
      }
    }
    const byKey = new Map<string, Outgoing>();
    for (const conn of touched) {
      if (conn.holding) {
        for (const ev of batch) if (conn.channels.includes(ev.channel)) conn.holdEvent(ev);
        continue;
      }
      let out = byKey.get(conn.key);
      if (out === undefined) {
        out = bytesFor(batch, conn.channels);
        byKey.set(conn.key, out);
      }
      conn.send(out, now);
    }
  }

  subscriberCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const [channel, set] of this.#byChannel) counts[channel] = set.size;
    return counts;
  }

  connections(): Connection[] {
    return [...this.#all];
  }

  #sweep = (): void => {
    const keepAlive = this.#keepAlive;
    if (keepAlive === undefined) return;
    const now = Date.now();
    const due = now - this.#keepAliveMs;
    for (const conn of this.#all) if (conn.lastWriteAt <= due && !conn.holding) conn.send(keepAlive, now);
  };
}

function bytesFor(batch: readonly EncodedEvent[], channels: readonly string[]): Outgoing {
  const parts: Buffer[] = [];
  for (const ev of batch) if (channels.includes(ev.channel)) parts.push(ev.bytes);
  return new Outgoing(parts.length === 1 ? parts[0]! : Buffer.concat(parts), parts.length);
}
