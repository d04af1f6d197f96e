// An in-memory EventStore for the reconnect-storm benchmark that counts its reads.
//
// A plain store of the EventStore contract (src/engine/store.ts: `append` → { epoch, events },
// `readAfter(channels, after, limit?)` → { epoch, records, gaps, head, lastSeq }), not the
// library's MemoryStore, so that it can count its reads and answer them in a later turn: one seq
// per store, per-channel retention by count, records in seq order. It counts `readAfter` calls,
// the channels and records they touched, and the most reads in flight at once. The library
// merges identical concurrent reads (src/history/shared-reads.ts) before they reach any store, so
// these counts show what reaches the store.

import { randomBytes } from 'node:crypto';

export class CountingStore {
  /** @param {{ maxEventsPerChannel?: number, latencyMs?: number }} [options] */
  constructor({ maxEventsPerChannel = 1000, latencyMs = 0 } = {}) {
    this.latencyMs = latencyMs;
    this.epochId = randomBytes(6).readUIntBE(0, 6).toString(36);
    this.max = maxEventsPerChannel;
    /** @type {Map<string, { records: { seq: number, channel: string, body: string }[], evictedUpTo: number, lastSeq: number }>} */
    this.channels = new Map();
    this.seq = 0;
    this.counts = { reads: 0, readChannels: 0, readRecords: 0, inFlight: 0, maxInFlight: 0, appends: 0 };
    /** @type {Map<string, number>} distinct (channels, afterSeq) keys read, with how often */
    this.keys = new Map();
  }

  async epoch() {
    return this.epochId;
  }

  async head() {
    return this.seq;
  }

  /** @param {ReadonlyArray<{ channel: string, body: string }>} items */
  async append(items) {
    this.counts.appends++;
    const out = [];
    for (const { channel, body } of items) {
      const seq = ++this.seq;
      let b = this.channels.get(channel);
      if (!b) {
        b = { records: [], evictedUpTo: 0, lastSeq: 0 };
        this.channels.set(channel, b);
      }
      b.records.push({ seq, channel, body });
      if (b.records.length > this.max) b.evictedUpTo = /** @type {{ seq: number }} */ (b.records.shift()).seq;
      out.push({ seq, prevSeq: b.lastSeq });
      b.lastSeq = seq;
    }
    return { epoch: this.epochId, events: out };
  }

  /** @param {readonly string[]} channels @param {number} afterSeq @param {number} [limit] */
  async readAfter(channels, afterSeq, limit) {
    const c = this.counts;
    c.reads++;
    c.readChannels += channels.length;
    c.inFlight++;
    if (c.inFlight > c.maxInFlight) c.maxInFlight = c.inFlight;
    const key = `${channels.join(',')}@${afterSeq}`;
    this.keys.set(key, (this.keys.get(key) ?? 0) + 1);
    try {
      // a real store answers in a later turn; so does this one (reads overlap like a real one's),
      // or after `latencyMs`, like a remote store (a database across the network)
      await new Promise((r) => (this.latencyMs > 0 ? setTimeout(r, this.latencyMs) : setImmediate(r)));
      const gaps = [];
      const records = [];
      /** @type {Record<string, number>} */
      const lastSeq = {};
      for (const channel of channels) {
        const b = this.channels.get(channel);
        lastSeq[channel] = b?.lastSeq ?? 0;
        if (!b) continue;
        if (b.evictedUpTo > afterSeq) {
          gaps.push(channel);
          continue;
        }
        for (const r of b.records) if (r.seq > afterSeq) records.push(r);
      }
      if (channels.length > 1) records.sort((x, y) => x.seq - y.seq);
      if (limit !== undefined && records.length > limit) records.length = limit;
      c.readRecords += records.length;
      return { epoch: this.epochId, records, gaps, head: this.seq, lastSeq };
    } finally {
      c.inFlight--;
    }
  }

  stats() {
    return { ...this.counts, distinctReads: this.keys.size };
  }
}
