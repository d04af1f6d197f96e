// The channel registry: which connections listen to which channel, and fan-out of each batch.
// Tells the bus when a channel gets its first subscriber here and when its last one leaves.

import type { EncodedEvent } from '../base/types.js';
import { tagged } from './channel-tag.js';
import type { Connection } from './connection.js';
import { FilterVerdicts } from './filter.js';
import { SharedWrite } from './transport.js';

/** The part of the bus the hub drives. */
export interface ChannelInterest {
  subscribe(channel: string): Promise<void> | void;
  unsubscribe(channel: string): void;
}

export class ChannelRegistry {
  #byChannel = new Map<string, Set<Connection>>();
  /**
   * Channels whose bus subscription is still being set up. Every subscriber that joins meanwhile
   * waits for it too: reading the history before the bus delivers every later event could miss
   * the events in between (the bus delivers only what follows its own read of the store).
   */
  #pending = new Map<string, Promise<void>>();
  /**
   * Channels whose bus subscription failed (its service unreachable) while they kept subscribers:
   * the next subscriber asks the bus again instead of reading the history unsubscribed.
   */
  #failed = new Set<string>();
  #all = new Set<Connection>();
  #flushMark = 0;
  #keepAlive: SharedWrite | undefined;
  #keepAliveMs: number;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  readonly #interest: ChannelInterest;

  /** `keepAliveBytes` is sent after `keepAliveMs` of silence; undefined disables keep-alive. */
  constructor(keepAliveBytes: Buffer | undefined, keepAliveMs: number, interest: ChannelInterest) {
    this.#keepAlive = keepAliveBytes && new SharedWrite(keepAliveBytes, 0);
    this.#keepAliveMs = keepAliveMs;
    this.#interest = interest;
  }

  get size(): number {
    return this.#all.size;
  }

  /**
   * Add a subscriber. Resolves once the bus delivers every later event on its channels (a shared
   * bus subscribes a channel's first subscriber asynchronously); undefined when that is already so.
   */
  add(conn: Connection): Promise<unknown> | undefined {
    this.#all.add(conn);
    let ready: Array<Promise<void> | void> | undefined;
    for (const channel of conn.channels) {
      let set = this.#byChannel.get(channel);
      if (set === undefined) {
        set = new Set();
        this.#byChannel.set(channel, set);
        this.#subscribe(channel);
      } else if (this.#failed.delete(channel)) this.#subscribe(channel);
      const pending = this.#pending.get(channel);
      if (pending !== undefined) {
        ready ??= [];
        ready.push(pending);
      }
      set.add(conn);
    }
    if (this.#keepAlive !== undefined && this.#sweepTimer === undefined) {
      // One timer for all connections: per-connection timers would cost a refresh per write.
      // Checking every quarter interval bounds the silence between 1× and 1.25× keepAliveMs.
      this.#sweepTimer = setInterval(this.#sweep, Math.max(1, Math.floor(this.#keepAliveMs / 4)));
      this.#sweepTimer.unref?.();
    }
    return ready && Promise.all(ready);
  }

  /** Ask the bus for `channel`; subscribers joining until it answers wait for the same answer. */
  #subscribe(channel: string): void {
    const subscribed = this.#interest.subscribe(channel);
    if (subscribed === undefined) return;
    const pending = Promise.resolve(subscribed);
    this.#pending.set(channel, pending);
    const settled = (ok: boolean) => {
      if (this.#pending.get(channel) !== pending) return;
      this.#pending.delete(channel);
      if (!ok && this.#byChannel.has(channel)) this.#failed.add(channel);
    };
    pending.then(
      () => settled(true),
      () => settled(false),
    );
  }

  remove(conn: Connection): void {
    if (!this.#all.delete(conn)) return;
    for (const channel of conn.channels) {
      const set = this.#byChannel.get(channel);
      if (set === undefined) continue;
      set.delete(conn);
      if (set.size === 0) {
        this.#byChannel.delete(channel);
        this.#pending.delete(channel);
        this.#failed.delete(channel);
        this.#interest.unsubscribe(channel);
      }
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
      const plain = new SharedWrite(ev.bytes, 1);
      let withChannel: SharedWrite | undefined;
      let verdicts: FilterVerdicts | undefined;
      for (const conn of set) {
        if (conn.filter !== undefined) {
          verdicts ??= new FilterVerdicts(batch);
          if (!verdicts.passes(conn.filter, 0)) continue;
        }
        const own = conn.tagged ? tagged(ev) : ev;
        if (conn.replaying) conn.defer(own);
        else if (conn.skipUpTo !== 0 && covered(conn, ev)) continue;
        else if (conn.overloaded) conn.park(own);
        else if (!conn.tagged) conn.send(plain, now);
        else {
          withChannel ??= new SharedWrite(own.bytes, 1);
          conn.send(withChannel, now);
        }
      }
      return;
    }
    const mark = ++this.#flushMark;
    const touched: Connection[] = [];
    for (const ev of batch) {
      const set = this.#byChannel.get(ev.channel);
      if (set === undefined) continue;
      for (const conn of set) {
        if (conn.batchMark !== mark) {
          conn.batchMark = mark;
          touched.push(conn);
        }
      }
    }
    const byKey = new Map<string, SharedWrite>();
    let verdicts: FilterVerdicts | undefined;
    for (const conn of touched) {
      if (conn.filter !== undefined) verdicts ??= new FilterVerdicts(batch);
      if (conn.replaying || conn.overloaded || conn.skipUpTo !== 0) {
        // Event by event: deferred during a replay, parked while behind, or just out of its
        // replay (its own bytes, without what the replay already wrote).
        const own = ownEvents(conn, batch, verdicts);
        if (conn.replaying) for (const ev of own) conn.defer(ev);
        else {
          const fresh = conn.skipUpTo === 0 ? own : own.filter((ev) => !covered(conn, ev));
          if (conn.overloaded) for (const ev of fresh) conn.park(ev);
          else if (fresh.length > 0) conn.send(joined(fresh), now);
        }
        continue;
      }
      // Connections with the same channels and filter receive the same bytes: built once.
      const key = conn.filter === undefined ? conn.key : `${conn.key}\n${conn.filter.key}`;
      let out = byKey.get(key);
      if (out === undefined) {
        out = joined(ownEvents(conn, batch, verdicts));
        byKey.set(key, out);
      }
      if (out.events > 0) conn.send(out, now);
    }
  }

  /**
   * Subscribers of `channels` may have missed events: each gets one `stream-reset` (built by
   * `resetFor` from the channels it listens to) in order with live events. Returns how many got one.
   * `newEpoch`: the seqs start over, so what a replay covered in the old epoch means nothing.
   */
  reset(
    channels: readonly string[],
    resetFor: (own: readonly string[]) => EncodedEvent,
    newEpoch = false,
  ): number {
    const own = new Map<Connection, string[]>();
    for (const channel of channels) {
      const set = this.#byChannel.get(channel);
      if (set === undefined) continue;
      for (const conn of set) {
        const list = own.get(conn);
        if (list === undefined) own.set(conn, [channel]);
        else list.push(channel);
      }
    }
    const now = Date.now();
    for (const [conn, list] of own) {
      if (newEpoch) conn.skipUpTo = 0;
      const ev = resetFor(list);
      if (conn.replaying) conn.defer(ev);
      else if (conn.overloaded) conn.park(ev);
      else conn.send(new SharedWrite(ev.bytes, 0), now);
    }
    return own.size;
  }

  /** A notice (no id, not stored) for the streams of `channel` that asked for notices. */
  notice(channel: string, ev: EncodedEvent): void {
    const set = this.#byChannel.get(channel);
    if (set === undefined) return;
    const plain = new SharedWrite(ev.bytes, 0);
    let withChannel: SharedWrite | undefined;
    const now = Date.now();
    for (const conn of set) {
      if (!conn.notices) continue;
      const own = conn.tagged ? tagged(ev) : ev;
      if (conn.replaying) conn.defer(own);
      else if (conn.overloaded) conn.park(own);
      else if (!conn.tagged) conn.send(plain, now);
      else {
        withChannel ??= new SharedWrite(own.bytes, 0);
        conn.send(withChannel, now);
      }
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
    for (const conn of this.#all)
      if (conn.lastWriteAt <= due && !conn.replaying && !conn.overloaded) conn.send(keepAlive, now);
  };
}

/** Whether the replay already wrote `ev`; the first event it did not clears the mark. */
function covered(conn: Connection, ev: EncodedEvent): boolean {
  if (ev.seq === undefined) return false;
  if (ev.seq <= conn.skipUpTo) return true;
  conn.skipUpTo = 0;
  return false;
}

/** The events of `batch` on the connection's channels that pass its filter, in order. */
function ownEvents(
  conn: Connection,
  batch: readonly EncodedEvent[],
  verdicts: FilterVerdicts | undefined,
): EncodedEvent[] {
  const own: EncodedEvent[] = [];
  const filter = conn.filter;
  for (let i = 0; i < batch.length; i++) {
    const ev = batch[i]!;
    if (!conn.channels.includes(ev.channel)) continue;
    if (filter !== undefined && verdicts !== undefined && !verdicts.passes(filter, i)) continue;
    own.push(conn.tagged ? tagged(ev) : ev);
  }
  return own;
}

function joined(events: readonly EncodedEvent[]): SharedWrite {
  if (events.length === 1) return new SharedWrite(events[0]!.bytes, 1);
  return new SharedWrite(Buffer.concat(events.map((ev) => ev.bytes)), events.length);
}
