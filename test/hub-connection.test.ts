// ChannelRegistry and Connection over a fake Transport: fan-out, coalescing, the backlog bound, replay then
// live ordering, keep-alive, bus interest, release exactly once.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EncodedEvent } from '../src/base/types.js';
import { Connection, type ConnectionOwner, type DisconnectReason } from '../src/core/connection.js';
import { ChannelRegistry } from '../src/core/hub.js';
import { encode } from '../src/core/pending-event.js';
import { FakeTransport } from './helpers/fake-transport.js';

function withSeq(ev: EncodedEvent, seq: number): EncodedEvent {
  return { ...ev, seq };
}

function setup(maxBufferBytes = 1000, keepAlive?: { bytes: string; ms: number }) {
  const interest: string[] = [];
  const released: Array<[Connection, DisconnectReason]> = [];
  let delivered = 0;
  const hub = new ChannelRegistry(keepAlive && Buffer.from(keepAlive.bytes), keepAlive?.ms ?? 0, {
    subscribe: (c) => {
      interest.push(`+${c}`);
    },
    unsubscribe: (c) => interest.push(`-${c}`),
  });
  const owner: ConnectionOwner = {
    released: (conn, reason) => {
      released.push([conn, reason]);
      hub.remove(conn);
    },
    delivered: (events) => {
      delivered += events;
    },
  };
  const connect = (channels: string[]) => {
    const t = new FakeTransport();
    const conn = new Connection(t, channels, owner, maxBufferBytes);
    hub.add(conn);
    return { t, conn };
  };
  return { hub, connect, interest, released, delivered: () => delivered };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ChannelRegistry over fake transports', () => {
  it('writes each connection exactly its events of a batch, in one write, sharing bytes per channel set', () => {
    const { hub, connect, delivered } = setup();
    const a = connect(['a']);
    const ab = connect(['a', 'b']);
    const ba = connect(['b', 'a']);
    const c = connect(['c']);
    const batch = [encode('a', { data: 1 }), encode('b', { data: 2 }), encode('a', { data: 3 })];
    hub.deliver(batch);
    expect(a.t.writes).toEqual(['data: 1\n\ndata: 3\n\n']);
    expect(ab.t.writes).toEqual(['data: 1\n\ndata: 2\n\ndata: 3\n\n']);
    expect(ba.t.writes).toEqual(ab.t.writes);
    expect(c.t.writes).toEqual([]);
    expect(delivered()).toBe(2 + 3 + 3);
  });

  it('tells the bus of a channel’s first subscriber and its last one leaving', () => {
    const { connect, interest } = setup();
    const one = connect(['a', 'b']);
    connect(['a']);
    expect(interest).toEqual(['+a', '+b']);
    one.t.close();
    expect(interest).toEqual(['+a', '+b', '-b']);
  });

  it('makes every subscriber that joins while the bus subscription is pending wait for it', async () => {
    let subscribed!: () => void;
    const hub = new ChannelRegistry(undefined, 0, {
      subscribe: () =>
        new Promise<void>((resolve) => {
          subscribed = resolve;
        }),
      unsubscribe: () => {},
    });
    const owner: ConnectionOwner = { released: (c) => hub.remove(c), delivered: () => {} };
    const conn = () => new Connection(new FakeTransport(), ['a'], owner, 1000);
    const order: string[] = [];
    void hub.add(conn())?.then(() => order.push('first'));
    const second = hub.add(conn());
    expect(second).toBeDefined();
    void second!.then(() => order.push('second'));
    await Promise.resolve();
    expect(order).toEqual([]);
    subscribed();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(order).toEqual(['first', 'second']);
    // Once the subscription is up, later subscribers need not wait.
    expect(hub.add(conn())).toBeUndefined();
  });

  it('asks the bus again for a channel whose subscription failed when the next subscriber joins, instead of reading unsubscribed', async () => {
    const calls: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
    const hub = new ChannelRegistry(undefined, 0, {
      subscribe: () => new Promise<void>((resolve, reject) => calls.push({ resolve, reject })),
      unsubscribe: () => {},
    });
    const owner: ConnectionOwner = { released: (c) => hub.remove(c), delivered: () => {} };
    const conn = () => new Connection(new FakeTransport(), ['a'], owner, 1000);
    const first = hub.add(conn());
    calls[0]!.reject(new Error('Redis is down'));
    await expect(first).rejects.toThrow('Redis is down');
    // The first subscriber is still registered (its owner ends it); the next one must not take
    // the failed subscription for a working one.
    const second = hub.add(conn());
    expect(calls).toHaveLength(2);
    expect(second).toBeDefined();
    calls[1]!.resolve();
    await second;
    expect(hub.add(conn())).toBeUndefined();
    expect(calls).toHaveLength(2);
  });

  it('drops a connection whose backlog is past the bound when more is written, once', () => {
    const { hub, connect, released } = setup(100);
    const slow = connect(['a']);
    const fast = connect(['a']);
    slow.t.buffered = 101;
    hub.deliver([encode('a', { data: 'x' })]);
    expect(slow.t.writes).toEqual([]);
    expect(slow.t.resets).toBe(1);
    expect(slow.t.detached).toBe(true);
    expect(fast.t.writes).toEqual(['data: "x"\n\n']);
    slow.t.close();
    expect(released.map(([, r]) => r)).toEqual(['slow']);
    expect(hub.size).toBe(1);
  });

  it('sends keep-alives after the silence, not to busy connections', () => {
    vi.useFakeTimers();
    const { hub, connect } = setup(1000, { bytes: ':\n\n', ms: 100 });
    const idle = connect(['a']);
    const busy = connect(['b']);
    // As after stream-open: both wrote at t=0.
    idle.conn.lastWriteAt = busy.conn.lastWriteAt = Date.now();
    vi.advanceTimersByTime(90);
    hub.deliver([encode('b', { data: 1 })]);
    vi.advanceTimersByTime(60);
    expect(idle.t.writes).toEqual([':\n\n']);
    expect(busy.t.writes).toEqual(['data: 1\n\n']);
  });

  it('a stream-reset from the bus reaches each subscriber once, naming its own channels', () => {
    const { hub, connect } = setup();
    const ab = connect(['a', 'b']);
    const c = connect(['c']);
    hub.reset(['a', 'b', 'z'], (own) => encode(own[0]!, { event: 'stream-reset', data: { channels: own } }));
    expect(ab.t.text).toBe('event: stream-reset\ndata: {"channels":["a","b"]}\n\n');
    expect(c.t.writes).toEqual([]);
  });
});

describe('Connection over a fake transport', () => {
  it('defers live events during the replay and writes only those the replay does not cover', async () => {
    const { hub, connect } = setup();
    const { t, conn } = connect(['a']);
    conn.startReplay(10_000);
    hub.deliver([withSeq(encode('a', { data: 5 }), 5)]);
    hub.deliver([withSeq(encode('a', { data: 6 }), 6)]);
    expect(t.writes).toEqual([]);
    async function* pieces() {
      yield 'replay up to 5\n\n';
    }
    await conn.replay(pieces(), 5);
    expect(t.writes).toEqual(['replay up to 5\n\n', 'data: 6\n\n']);
    hub.deliver([withSeq(encode('a', { data: 7 }), 7)]);
    expect(t.writes.at(-1)).toBe('data: 7\n\n');
  });

  it('after the replay, drops live events it already covered (a shared bus lagging the store), until a later one', async () => {
    const { hub, connect } = setup();
    const { t, conn } = connect(['a', 'b']);
    const other = connect(['a', 'b']);
    conn.startReplay(10_000);
    async function* pieces() {
      yield 'replay 1-7\n\n';
    }
    await conn.replay(pieces(), 7);
    // The bus delivers 5-7 (and another channel's 6) only now, then 8 and 9.
    hub.deliver([withSeq(encode('a', { data: 5 }), 5)]);
    hub.deliver([withSeq(encode('b', { data: 6 }), 6), withSeq(encode('a', { data: 7 }), 7)]);
    hub.deliver([withSeq(encode('a', { data: 7.5 }), 7), withSeq(encode('b', { data: 8 }), 8)]);
    hub.deliver([withSeq(encode('a', { data: 9 }), 9)]);
    expect(t.writes).toEqual(['replay 1-7\n\n', 'data: 8\n\n', 'data: 9\n\n']);
    // A connection that was live all along gets everything.
    expect(other.t.text).toBe('data: 5\n\ndata: 6\n\ndata: 7\n\ndata: 7.5\n\ndata: 8\n\ndata: 9\n\n');
  });

  it('a new epoch (stream-reset unknown-id) ends the dropping: its seqs start over', async () => {
    const { hub, connect } = setup();
    const { t, conn } = connect(['a']);
    conn.startReplay(10_000);
    async function* pieces() {
      yield 'replay up to 50\n\n';
    }
    await conn.replay(pieces(), 50);
    const reset = (own: readonly string[]) => ({
      ...encode(own[0]!, { event: 'stream-reset', data: 'r' }),
      seq: 2,
    });
    hub.reset(['a'], reset, true);
    hub.deliver([withSeq(encode('a', { data: 3 }), 3)]);
    expect(t.writes).toEqual(['replay up to 50\n\n', 'event: stream-reset\ndata: "r"\n\n', 'data: 3\n\n']);
  });

  it('waits for the transport to drain before writing more of a replay', async () => {
    const { connect } = setup(100);
    const { t, conn } = connect(['a']);
    conn.startReplay(10_000);
    t.buffered = 80; // more than half the bound
    async function* pieces() {
      yield 'one\n\n';
      yield 'two\n\n';
    }
    const done = conn.replay(pieces(), 0);
    await new Promise((r) => setImmediate(r));
    expect(t.writes).toEqual([]);
    t.drain();
    await done;
    expect(t.writes).toEqual(['one\n\n', 'two\n\n']);
  });

  it('drops a client that has not taken its replay by the deadline, as slow', () => {
    vi.useFakeTimers();
    const { connect, released } = setup();
    const { t, conn } = connect(['a']);
    conn.startReplay(1000);
    vi.advanceTimersByTime(1000);
    expect(t.resets).toBe(1);
    expect(released.map(([, r]) => r)).toEqual(['slow']);
  });

  it('end() releases once as server and ends the transport; a later close is not a second release', () => {
    const { connect, released } = setup();
    const { t, conn } = connect(['a']);
    conn.end();
    t.close();
    conn.end();
    expect(t.ended).toBe(true);
    expect(released.map(([, r]) => r)).toEqual(['server']);
    expect(conn.open).toBe(false);
  });
});
