// Response streams survive the death of the process producing them (issue 22): 200 concurrent
// generations on 3 processes sharing a real Redis; the process producing half of them is killed
// with SIGKILL mid-answer, after its chunks were appended. Every client reconnects (to another
// process when its own died) with Last-Event-ID and ends with exactly the text its producer's
// acknowledged appends carried (sha256 compared), no event twice, two clients of a stream the same
// events; the killed producer's streams end
// with the documented `end` event `{"status":"lost",…}` once a reader finds its heartbeat expired.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { connect, type SseEvent, until } from '../helpers/sse-client.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/stream-node.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/redis.js', import.meta.url));
const GENERATIONS = 200;
const CHUNKS = 40;
const PAUSE_AT = 20;
// The default: a lease of 5 beats (5 s) tolerates a producer's event loop stalling for seconds on
// a loaded machine; a shorter one would declare live producers lost there.
const HEARTBEAT_MS = 1000;

interface Produced {
  appended: number;
  sha256: string;
  state: string;
}

interface StreamNode {
  readonly name: string;
  url(path: string): string;
  alive(): boolean;
  produce(streams: Array<{ id: string; chunks: number; pauseAt: number }>): Promise<void>;
  release(): Promise<void>;
  produced(): Promise<Record<string, Produced>>;
  kill(): Promise<void>;
}

const cleanups: Array<() => Promise<void> | void> = [];
let redis: RedisInstance;
let nodes: StreamNode[];

function startNode(name: string, env: Record<string, string>): Promise<StreamNode> {
  const child: ChildProcess = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async (signal: NodeJS.Signals) => {
    if (running()) child.kill(signal);
    await exited;
  };
  cleanups.push(() => stop('SIGTERM'));
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening (\d+)/.exec(output);
      if (m === null) return;
      child.stdout!.off('data', onData);
      const base = `http://127.0.0.1:${m[1]}`;
      const post = async (path: string, body?: unknown) => {
        const res = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body ?? {}) });
        if (!res.ok) throw new Error(`${name} ${path}: ${res.status}`);
        await res.text();
      };
      resolve({
        name,
        url: (path) => `${base}${path}`,
        alive: running,
        produce: (streams) => post('/produce', { streams }),
        release: () => post('/release'),
        async produced() {
          return (await (await fetch(`${base}/produced`)).json()) as Record<string, Produced>;
        },
        kill: () => stop('SIGKILL'),
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}:\n${output}`)));
  });
}

/** One client of one stream: reconnects with Last-Event-ID to the next live process until the `end`. */
interface Reader {
  readonly id: string;
  readonly events: SseEvent[];
  /** Connections after the first (a reconnect after its process died). */
  hops: number;
  /** When the `end` event arrived (Date.now()). */
  endedAt: number;
  readonly done: Promise<void>;
}

function startReader(id: string, first: number): Reader {
  const reader: Reader = { id, events: [], hops: 0, endedAt: 0, done: Promise.resolve() };
  const hasEnd = () => reader.events.some((e) => e.event === 'end');
  (reader as { done: Promise<void> }).done = (async () => {
    let at = first;
    let attempts = 0;
    while (!hasEnd()) {
      if (++attempts > 20) throw new Error(`stream ${id}: no end after 20 connections`);
      if (!nodes.some((n) => n.alive())) throw new Error(`stream ${id}: no process left to read from`);
      while (!nodes[at % nodes.length]!.alive()) at++;
      const node = nodes[at % nodes.length]!;
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      const last = reader.events.at(-1)?.id;
      if (last !== undefined) headers['last-event-id'] = last;
      if (attempts > 1) reader.hops++;
      let client: Awaited<ReturnType<typeof connect>>;
      try {
        client = await connect(node.url(`/streams/${id}`), headers);
      } catch {
        at++; // refused: the process died meanwhile
        continue;
      }
      expect(client.status, `stream ${id} on ${node.name}`).toBe(200);
      let taken = 0;
      const take = () => {
        for (; taken < client.events.length; taken++) reader.events.push(client.events[taken]!);
      };
      await client.waitFor(
        (c) => {
          // What arrived moves into the reader as it comes: the next connection resumes after it.
          take();
          return c.ended || hasEnd();
        },
        60_000,
        `the end of stream ${id} on ${node.name} (${reader.events.length} events so far, last ${reader.events.at(-1)?.id}, ${reader.hops} reconnects)`,
      );
      take();
      client.close();
      if (hasEnd()) reader.endedAt = Date.now();
      else at++;
    }
  })();
  return reader;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const transcript = (reader: Reader) =>
  reader.events
    .filter((e) => e.event === 'message')
    .map((e) => e.data)
    .join('');

beforeAll(async () => {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first (npm test does)`);
  redis = await startRedis();
  cleanups.push(() => redis.stop());
  const env = { REDIS_URL: redis.url, NS: 'kill-test', HEARTBEAT_MS: String(HEARTBEAT_MS) };
  nodes = await Promise.all(['p0', 'p1', 'p2'].map((name) => startNode(name, env)));
}, 60_000);

afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
}, 60_000);

describe('response streams across processes when a producer is killed', () => {
  it("200 generations on 3 processes, the producer of half of them killed mid-answer: every client ends with its producer's text once; the killed ones end as lost", async () => {
    const ids = Array.from({ length: GENERATIONS }, (_, g) => `gen-${g}`);
    // The first half on p0 (killed), the rest alternately on p1 and p2.
    const producerOf = (g: number) => (g < GENERATIONS / 2 ? 0 : 1 + (g % 2));
    for (let n = 0; n < 3; n++) {
      const mine = ids.filter((_, g) => producerOf(g) === n);
      await nodes[n]!.produce(mine.map((id) => ({ id, chunks: CHUNKS, pauseAt: PAUSE_AT })));
    }
    await until(
      async () => {
        const all = await Promise.all(nodes.map((n) => n.produced()));
        return (
          all.reduce((sum, p) => sum + Object.values(p).filter((r) => r.state === 'paused').length, 0) ===
          GENERATIONS
        );
      },
      60_000,
      'every generation paused mid-answer',
    );
    // Two clients a stream, starting on processes g % 3 and (g + 1) % 3: two in three streams have
    // one reading from p0, the process to be killed; each lost stream has two readers that may both
    // notice the dead producer (its ending is stored once).
    const readers = ids.flatMap((id, g) => [startReader(id, g % 3), startReader(id, (g + 1) % 3)]);
    const generationOf = (i: number) => i >> 1;
    const startedOn = (i: number) => (generationOf(i) + (i % 2)) % 3;
    await until(
      () => readers.every((r) => r.events.length >= PAUSE_AT),
      60_000,
      'every client reading mid-answer',
    );
    const beforeKill = await nodes[0]!.produced();
    expect(Object.values(beforeKill).every((r) => r.appended === PAUSE_AT)).toBe(true);
    const killedAt = Date.now();
    await nodes[0]!.kill();
    await Promise.all([nodes[1]!.release(), nodes[2]!.release()]);
    await Promise.all(readers.map((r) => r.done));
    // A reader can see the stored end before its producer's end() has resolved (the bus may be
    // quicker than the reply): wait for the producers to have settled.
    let after: Record<string, Produced> = {};
    await until(
      async () => {
        after = { ...(await nodes[1]!.produced()), ...(await nodes[2]!.produced()) };
        return Object.values(after).every((r) => r.state !== 'running');
      },
      30_000,
      'the surviving producers settled',
    );

    for (const [i, reader] of readers.entries()) {
      const g = generationOf(i);
      const killed = producerOf(g) === 0;
      const expected = killed ? beforeKill[reader.id]! : after[reader.id]!;
      expect(expected.state, reader.id).toBe(killed ? 'paused' : 'done');
      expect(expected.appended).toBe(killed ? PAUSE_AT : CHUNKS);
      // No event twice, none out of order, across every reconnect.
      const seqs = reader.events.map((e) => Number(e.id!.split('-')[1]));
      expect(
        seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!),
        `${reader.id}: ids increasing`,
      ).toBe(true);
      expect(sha256(transcript(reader)), `${reader.id}: the producer's text`).toBe(expected.sha256);
      const ends = reader.events.filter((e) => e.event === 'end');
      expect(ends).toHaveLength(1);
      expect(reader.events.at(-1)!.event).toBe('end');
      expect(JSON.parse(ends[0]!.data)).toEqual(
        killed
          ? { status: 'lost', message: 'the producing process stopped (its heartbeat expired)' }
          : { status: 'done' },
      );
      // The clients that were reading from p0 reconnected elsewhere; the others never had to.
      expect(reader.hops > 0, `${reader.id}: reconnected`).toBe(startedOn(i) === 0);
      // Both clients of a stream got the same events, ids included.
      if (i % 2 === 1) expect(reader.events).toEqual(readers[i - 1]!.events);
    }
    const lostAfter = readers
      .filter((_, i) => producerOf(generationOf(i)) === 0)
      .map((r) => r.endedAt - killedAt)
      .sort((a, b) => a - b);
    console.log(
      `lost endings after the kill: median ${lostAfter[lostAfter.length >> 1]} ms, max ${lostAfter.at(-1)} ms (heartbeatMs ${HEARTBEAT_MS})`,
    );
  }, 180_000);
});
