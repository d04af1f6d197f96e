// Presence across three origin processes on one real Redis (its control channel and state): 1,000
// members open and close streams at random on random processes while each process's presence()
// is compared with the truth the test keeps; a watcher on every process gets exactly one join or
// leave per member change; then one process is killed with SIGKILL and its members disappear from
// the others within the documented bound (1.1 × ttlMs), each with its presence-leave.
import { afterEach, describe, expect, it } from 'vitest';
import type { PresenceSnapshot } from '../../src/index.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { connect, request, type SseClient, until } from '../helpers/sse-client.js';
import { type OriginProcess, startOrigin } from './origin-process.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const TTL_MS = 4000;
const MEMBERS = 1000;
const CHANNEL = 'room';

interface OpenStream {
  member: string;
  origin: OriginProcess;
  client: SseClient;
}

async function presenceOn(origin: OriginProcess): Promise<PresenceSnapshot> {
  const res = await request(origin.url(`/presence?channel=${CHANNEL}`));
  if (res.status !== 200) throw new Error(`presence on ${origin.name}: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as PresenceSnapshot;
}

/** The members with an open stream, by the test's own count, and how many streams. */
function truth(streams: ReadonlySet<OpenStream>): { ids: string[]; connections: number } {
  return { ids: [...new Set([...streams].map((s) => s.member))].sort(), connections: streams.size };
}

/** Polls until every origin's presence() equals the truth; resolves with how long it took. */
async function agree(origins: OriginProcess[], streams: ReadonlySet<OpenStream>, timeoutMs: number) {
  const started = Date.now();
  const expected = truth(streams);
  let last = '';
  await until(
    async () => {
      const snapshots = await Promise.all(origins.map(presenceOn));
      last = snapshots
        .map((s, k) => `${origins[k]!.name}: ${s.count} members, ${s.connections} streams`)
        .join('; ');
      return snapshots.every(
        (s) =>
          s.connections === expected.connections &&
          s.members
            .map((m) => m.id)
            .sort()
            .join() === expected.ids.join(),
      );
    },
    timeoutMs,
    () => `agreement: want ${expected.ids.length} members, ${expected.connections} streams; ${last}`,
  );
  return Date.now() - started;
}

/** Each member's notices alternate join, leave, join…, and the last one says whether it is there. */
function checkNotices(watcher: SseClient, present: ReadonlySet<string>, everSeen: ReadonlySet<string>): void {
  const last = new Map<string, string>();
  for (const e of watcher.events) {
    if (e.event !== 'presence-join' && e.event !== 'presence-leave') continue;
    const id = (JSON.parse(e.data) as { id: string }).id;
    expect(last.get(id), `${id}: two ${e.event} in a row`).not.toBe(e.event);
    last.set(id, e.event);
  }
  for (const id of everSeen) {
    if (id.startsWith('watch-')) continue;
    expect(last.get(id), id).toBe(present.has(id) ? 'presence-join' : 'presence-leave');
  }
}

describe('presence across three processes on Redis', () => {
  it('1,000 members join and leave at random: every process agrees with the truth; a SIGKILLed process’s members leave within 1.1 × ttlMs', async () => {
    const redis: RedisInstance = await startRedis();
    cleanups.push(() => redis.stop());
    const env = { REDIS_URL: redis.url, NS: 'presence', PRESENCE_TTL: String(TTL_MS) };
    const origins = await Promise.all(['a', 'b', 'c'].map((name) => startOrigin(name, env, cleanups)));
    const streams = new Set<OpenStream>();
    // A watcher on every process asks for notices; each process's view of the channel starts with
    // a state read, and notices are sent from then on: wait for the watchers to be listed.
    const watchers = await Promise.all(
      origins.map(async (origin) => {
        const client = await connect(
          origin.url(`/events?channel=${CHANNEL}&user=watch-${origin.name}&events=1`),
        );
        cleanups.push(() => client.close());
        await client.waitFor((c) => c.named('stream-open').length === 1, 30_000, 'stream-open');
        streams.add({ member: `watch-${origin.name}`, origin, client });
        return client;
      }),
    );
    await agree(origins, streams, 30_000);

    const open = async (member: string) => {
      const origin = origins[Math.floor(Math.random() * origins.length)]!;
      const client = await connect(origin.url(`/events?channel=${CHANNEL}&user=${member}`));
      cleanups.push(() => client.close());
      await client.waitFor((c) => c.named('stream-open').length === 1, 30_000, 'stream-open');
      streams.add({ member, origin, client });
    };
    const everSeen = new Set<string>();
    // Every member opens a stream, 50 at a time.
    for (let first = 0; first < MEMBERS; first += 50)
      await Promise.all(
        Array.from({ length: 50 }, (_, k) => {
          everSeen.add(`m${first + k}`);
          return open(`m${first + k}`);
        }),
      );
    // Then 1,500 random changes, 30 at a time: close one of a member's streams or open another.
    for (let round = 0; round < 50; round++) {
      const changes: Array<Promise<void>> = [];
      for (let k = 0; k < 30; k++) {
        const member = `m${Math.floor(Math.random() * MEMBERS)}`;
        const mine = [...streams].filter((s) => s.member === member);
        if (mine.length > 0 && Math.random() < 0.6) {
          const s = mine[0]!;
          streams.delete(s);
          s.client.close();
        } else changes.push(open(member));
      }
      await Promise.all(changes);
    }
    const settled = await agree(origins, streams, 30_000);
    expect(settled).toBeLessThan(TTL_MS * 1.1 + 30_000);
    const present = new Set([...streams].map((s) => s.member));
    for (const w of watchers) {
      await w.waitFor(
        (c) => {
          const last = new Map<string, string>();
          for (const e of c.events)
            if (e.event.startsWith('presence-')) last.set((JSON.parse(e.data) as { id: string }).id, e.event);
          return [...everSeen].every(
            (id) => last.get(id) === (present.has(id) ? 'presence-join' : 'presence-leave'),
          );
        },
        30_000,
        'the notices for every member',
      );
      checkNotices(w, present, everSeen);
    }

    // SIGKILL one process: no close, no goodbye; its members go when its lease runs out.
    const [victim, ...survivors] = origins as [OriginProcess, ...OriginProcess[]];
    const before = new Set(streams);
    for (const s of before) if (s.origin === victim) streams.delete(s);
    const killedAt = Date.now();
    await victim.kill();
    const took = await agree(survivors, streams, 30_000);
    const elapsed = Date.now() - killedAt;
    // The bound plus the polling and query time on a loaded machine.
    expect(
      elapsed,
      `members of the killed process gone after ${elapsed} ms (${took} ms polling)`,
    ).toBeLessThanOrEqual(TTL_MS * 1.1 + 1500);
    const stillPresent = new Set([...streams].map((s) => s.member));
    for (const w of watchers.slice(1)) {
      await w.waitFor(
        (c) => {
          const last = new Map<string, string>();
          for (const e of c.events)
            if (e.event.startsWith('presence-')) last.set((JSON.parse(e.data) as { id: string }).id, e.event);
          return [...everSeen].every(
            (id) => last.get(id) === (stillPresent.has(id) ? 'presence-join' : 'presence-leave'),
          );
        },
        30_000,
        "the killed process's leaves",
      );
      checkNotices(w, stillPresent, everSeen);
    }
  }, 240_000);
});
