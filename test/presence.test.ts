// Presence over in-process engines: members and counts from `presence()`, answered from the
// process's own view (no state read per query), join/leave events for the streams that asked,
// two namespaces sharing a control channel and a state as two processes would (a dead one's
// members leave within the documented bound, with presence-leave), foreign values kept out.
import { afterEach, describe, expect, it } from 'vitest';
import type { ControlChannel, ControlSink, SharedState } from '../src/index.js';
import { type HttpRequest, InvalidOptionError, MemoryState, type PresenceMember } from '../src/index.js';
import { type EventsFixture, serveEvents } from './helpers/server.js';
import { until } from './helpers/sse-client.js';

/**
 * One process's engine parts on a state and a control channel shared in memory with others, which
 * can be cut off as a killed process's are: nothing it writes or sends arrives any more.
 */
function processOn(state: SharedState, sinks: Set<ControlSink>) {
  let cut = false;
  let own: ControlSink | undefined;
  const control: ControlChannel = {
    start(sink) {
      own = sink;
      sinks.add(sink);
    },
    send(topic, payload) {
      const copy: unknown = JSON.parse(JSON.stringify(payload));
      if (!cut)
        queueMicrotask(() => {
          for (const sink of sinks) sink.receive(topic, copy);
        });
      return Promise.resolve();
    },
    close: async () => {
      if (own !== undefined) sinks.delete(own);
    },
  };
  return {
    cut: () => {
      cut = true;
      if (own !== undefined) sinks.delete(own);
    },
    engine: {
      control,
      state: {
        put: (...a) => (cut ? Promise.resolve() : state.put(...a)),
        compareAndSet: (...a) => (cut ? Promise.resolve(false) : state.compareAndSet(...a)),
        delete: (...a) => (cut ? Promise.resolve(false) : state.delete(...a)),
        get: (...a) => state.get(...a),
        entries: (...a) => state.entries(...a),
        count: (...a) => state.count(...a),
        close: async () => {},
      } satisfies SharedState,
    },
  };
}

const fixtures: EventsFixture[] = [];
afterEach(async () => {
  for (const fx of fixtures.splice(0)) await fx.close();
});

/** `?user=…&events=1`: the member's id and whether it wants join/leave events. */
function member(req: HttpRequest): PresenceMember | undefined {
  const query = new URL(req.url ?? '/', 'http://x').searchParams;
  const user = query.get('user');
  if (user === null) return undefined;
  return { id: user, info: { name: `User ${user}` }, events: query.get('events') === '1' };
}

async function serve(options = {}): Promise<EventsFixture> {
  const fx = await serveEvents(
    { keepAlive: false, presence: { channels: ['room-*'] }, ...options },
    { presence: member },
  );
  fixtures.push(fx);
  return fx;
}

describe('presence', () => {
  it('lists members with their info and streams; joins and leaves reach the streams that asked', async () => {
    const fx = await serve();
    const watcher = await fx.open('/?channel=room-1&user=w&events=1');
    await until(async () => (await fx.ev.presence('room-1')).count === 1, 15_000, 'the watcher listed');
    const aliceTab1 = await fx.open('/?channel=room-1&user=alice');
    const aliceTab2 = await fx.open('/?channel=room-1&user=alice');
    const anonymous = await fx.open('/?channel=room-1');
    let snapshot = await fx.ev.presence('room-1');
    for (let i = 0; snapshot.connections < 4 && i < 1000; i++) {
      await new Promise((r) => setImmediate(r));
      snapshot = await fx.ev.presence('room-1');
    }
    expect(snapshot.count).toBe(3);
    expect(snapshot.connections).toBe(4);
    const alice = snapshot.members.find((m) => m.id === 'alice');
    expect(alice).toEqual({ id: 'alice', info: { name: 'User alice' }, connections: 2 });
    // One join per member, not per stream.
    await watcher.waitFor((c) => c.named('presence-join').length === 2, 15_000, 'two joins');
    expect(
      watcher
        .named('presence-join')
        .map((e) => JSON.parse(e.data).id)
        .sort(),
    ).toEqual(expect.arrayContaining(['alice']));
    aliceTab1.close();
    anonymous.close();
    await watcher.waitFor((c) => c.named('presence-leave').length === 1, 15_000, 'one leave');
    expect(JSON.parse(watcher.named('presence-leave')[0]!.data).id).not.toBe('alice');
    aliceTab2.close();
    await watcher.waitFor((c) => c.named('presence-leave').length === 2, 15_000, "alice's leave");
    expect(JSON.parse(watcher.named('presence-leave')[1]!.data)).toEqual({ id: 'alice' });
    await until(async () => (await fx.ev.presence('room-1')).count === 1, 15_000, 'only the watcher left');
    // Join and leave events carry no id: the stream's resume position is untouched.
    expect(
      watcher.events
        .filter((e) => e.event.startsWith('presence-'))
        .every((e) => e.id === undefined || e.id === watcher.named('stream-open')[0]!.id),
    ).toBe(true);
  });

  it('is opt-in per channel: presence() on another channel is a typed error', async () => {
    const fx = await serve();
    await expect(fx.ev.presence('lobby')).rejects.toThrow(InvalidOptionError);
  });

  it('answers presence() from memory: after the first read of a channel, no state read per query', async () => {
    const state = new MemoryState();
    let reads = 0;
    const counting: SharedState = {
      put: (...a) => state.put(...a),
      compareAndSet: (...a) => state.compareAndSet(...a),
      delete: (...a) => state.delete(...a),
      get: (...a) => state.get(...a),
      entries: (...a) => {
        reads++;
        return state.entries(...a);
      },
      count: (...a) => state.count(...a),
      close: () => state.close(),
    };
    const fx = await serve({ state: counting });
    await fx.open('/?channel=room-5&user=ann');
    await until(async () => (await fx.ev.presence('room-5')).count === 1, 15_000, 'ann listed');
    const before = reads;
    for (let q = 0; q < 50; q++) expect((await fx.ev.presence('room-5')).count).toBe(1);
    expect(reads).toBe(before);
  });

  it("two processes: each lists the other's members; a killed one's leave everywhere within 1.1 × ttlMs, with presence-leave", async () => {
    const shared = new MemoryState();
    const sinks = new Set<ControlSink>();
    const dying = processOn(shared, sinks);
    const living = processOn(shared, sinks);
    const ttlMs = 3000;
    const fx = await serve({ ...dying.engine, presence: { ttlMs } });
    const other = await serve({ ...living.engine, presence: { ttlMs } });
    const watcher = await other.open('/?channel=room-9&user=w&events=1');
    await until(async () => (await other.ev.presence('room-9')).count === 1, 15_000, 'the watcher listed');
    await fx.open('/?channel=room-9&user=bob');
    await fx.open('/?channel=room-9&user=bob');
    await fx.open('/?channel=room-9&user=eve');
    await until(async () => (await other.ev.presence('room-9')).connections === 4, 15_000, 'all listed');
    expect((await other.ev.presence('room-9')).members.map((m) => m.id).sort()).toEqual(['bob', 'eve', 'w']);
    expect((await fx.ev.presence('room-9')).members.map((m) => m.id).sort()).toEqual(['bob', 'eve', 'w']);
    // One join per member (bob has two streams), none for the watcher's own view start.
    await watcher.waitFor((c) => c.named('presence-join').length === 2, 15_000, 'two joins');
    // The first process dies: nothing it writes or sends arrives any more.
    dying.cut();
    const started = Date.now();
    await until(async () => (await other.ev.presence('room-9')).count === 1, 15_000, 'bob and eve gone');
    expect(Date.now() - started).toBeLessThanOrEqual(ttlMs * 1.1 + 500);
    await watcher.waitFor((c) => c.named('presence-leave').length === 2, 15_000, 'two leaves');
    expect(
      watcher
        .named('presence-join')
        .map((e) => JSON.parse(e.data).id)
        .sort(),
    ).toEqual(['bob', 'eve']);
    expect(
      watcher
        .named('presence-leave')
        .map((e) => JSON.parse(e.data).id)
        .sort(),
    ).toEqual(['bob', 'eve']);
    // The state's entries expire too: a process starting now reads no ghosts.
    const late = await serve({ ...processOn(shared, sinks).engine, presence: { ttlMs } });
    await until(async () => (await late.ev.presence('room-9')).count === 1, 15_000, 'only the watcher');
  });

  it('leaves values that are not ours out of presence(), and ignores foreign control messages', async () => {
    const state = new MemoryState();
    const sinks = new Set<ControlSink>();
    const fx = await serve(processOn(state, sinks).engine);
    await state.put('presence:room-x', 'p-1', '{"m":"ok","i":{"a":1},"p":"proc-1"}', 10_000);
    await state.put('presence:room-x', 'p-2', 'not json', 10_000);
    await state.put('presence:room-x', 'p-3', '{"m":"bad\\nid","p":"proc-1"}', 10_000);
    await state.put('presence:room-x', 'p-4', '{"m":42,"p":"proc-1"}', 10_000);
    await state.put('presence:room-x', 'p-5', '{"m":"no-owner"}', 10_000);
    const snapshot = await fx.ev.presence('room-x');
    expect(snapshot.members).toEqual([{ id: 'ok', info: { a: 1 }, connections: 1 }]);
    for (const sink of sinks) {
      sink.receive('presence', { k: 'open', c: 'room-x', s: 'k-1', p: 'proc-2', m: 'bad\nid' });
      sink.receive('presence', {
        k: 'open',
        c: 'room-x',
        s: 'k-2',
        p: 'proc-2',
        m: 'x',
        i: 'y'.repeat(5000),
      });
      sink.receive('presence', { k: 'nope', c: 'room-x', s: 'k-3', p: 'proc-2', m: 'x' });
      sink.receive('presence', 'text');
      sink.receive('presence', { k: 'open', c: 'room-x', s: 'k-4', p: 'proc-2', m: 'fine' });
    }
    const ids = (await fx.ev.presence('room-x')).members.map((m) => m.id).sort();
    expect(ids).toEqual(['fine', 'ok']);
  });
});
