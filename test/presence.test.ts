// Presence, in one process over the default engine (LocalControl, MemoryState): members and
// counts from `presence()`, join/leave events for the streams that asked, expiry of entries a
// process stopped refreshing, and foreign state values kept off the wire.
import { afterEach, describe, expect, it } from 'vitest';
import type { SharedState } from '../src/index.js';
import { type HttpRequest, InvalidOptionError, MemoryState, type PresenceMember } from '../src/index.js';
import { type EventsFixture, serveEvents } from './helpers/server.js';

/** Wait for an async condition, polling; rejects after `timeoutMs`. */
async function until(predicate: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A process's view of shared state that can be cut off, as a crashed process's writes stop. */
function cuttable(state: SharedState): { state: SharedState; cut: () => void } {
  let cut = false;
  return {
    cut: () => {
      cut = true;
    },
    state: {
      put: (...a) => (cut ? Promise.resolve() : state.put(...a)),
      delete: (...a) => (cut ? Promise.resolve(false) : state.delete(...a)),
      get: (...a) => state.get(...a),
      entries: (...a) => state.entries(...a),
      count: (...a) => state.count(...a),
      close: async () => {},
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

  it("a dead process's members expire within ttlMs", async () => {
    const shared = new MemoryState();
    const dying = cuttable(shared);
    const fx = await serve({ state: dying.state, presence: { ttlMs: 3000 } });
    await fx.open('/?channel=room-9&user=bob');
    // A second namespace on the same state, as another process sees it.
    const other = await serveEvents({ state: shared, presence: true });
    fixtures.push(other);
    await until(async () => (await other.ev.presence('room-9')).count === 1, 15_000, 'bob listed elsewhere');
    expect((await other.ev.presence('room-9')).members.map((m) => m.id)).toEqual(['bob']);
    // The first process dies: nothing it writes (refreshes, deletes) arrives any more.
    dying.cut();
    const started = Date.now();
    await until(async () => (await other.ev.presence('room-9')).count === 0, 15_000, 'bob expired');
    expect(Date.now() - started).toBeLessThanOrEqual(3000 + 500);
  });

  it('leaves values that are not ours out of presence()', async () => {
    const state = new MemoryState();
    const fx = await serve({ state });
    await state.put('presence:room-x', 'p-1', '{"m":"ok","i":{"a":1}}', 10_000);
    await state.put('presence:room-x', 'p-2', 'not json', 10_000);
    await state.put('presence:room-x', 'p-3', '{"m":"bad\\nid"}', 10_000);
    await state.put('presence:room-x', 'p-4', '{"m":42}', 10_000);
    const snapshot = await fx.ev.presence('room-x');
    expect(snapshot.members).toEqual([{ id: 'ok', info: { a: 1 }, connections: 1 }]);
  });
});
