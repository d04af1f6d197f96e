// Overload policies at the scale: one stalled client among 1,000 readers on a channel
// publishing 10,000 events/s. The server is a child process (test/fixtures/policy-server.mjs, the
// built package) so its memory is its own; the 1,000 readers are real TCP streams in another
// child process (test/fixtures/policy-readers.mjs); the stalled client is a real TCP stream here
// that stops reading its socket, then reads again.
//   disconnect:  the stalled client is cut, the readers are not.
//   drop-oldest: it stays; the server's RSS grows by at most maxBufferBytes + 1 MB; reading again
//                it gets `stream-missed` with the count, then the newest events without a hole.
//   conflate:    it stays, same memory bound; reading again it gets the latest event of each key
//                in order of last change, and ends with every key's last published value.
// The readers' latency under each policy is measured by bench/policies.mjs, not here.
// About 60 s and two cores' worth of loopback traffic: `npm run test:scale` (CI runs it after
// `npm test`). On a busy machine the readers themselves fall behind and are cut; STALL_READERS
// runs it smaller.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type SseClient, type SseEvent } from '../helpers/sse-client.js';

const SERVER = fileURLToPath(new URL('../fixtures/policy-server.mjs', import.meta.url));
const READERS = fileURLToPath(new URL('../fixtures/policy-readers.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/** The figures; STALL_READERS and STALL_RATE change them (a smaller run on a busy machine). */
const READER_COUNT = Number(process.env.STALL_READERS ?? 1000);
const RATE = Number(process.env.STALL_RATE ?? 10_000);
const MAX_BUFFER = 1024 * 1024;
/** Events published once the stalled client's kernel buffers are full: twice the bound's worth. */
const STALLED_EVENTS = Math.ceil((2 * MAX_BUFFER) / 50);

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Starts a child and stops it by PID at cleanup; resolves with it once `ready` matches its output. */
function child(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<[ChildProcess, RegExpExecArray]> {
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = ready.exec(output);
      if (m !== null) resolve([proc, m]);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`${args.at(-1)} exited with ${code}:\n${output}`)));
  });
}

interface PolicyServer {
  url: string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string): Promise<T>;
  /** Polls `path` until `predicate` holds (a condition of the child, not a sleep). */
  until<T>(path: string, predicate: (value: T) => boolean, timeoutMs: number, what: string): Promise<T>;
}

async function policyServer(policy: string): Promise<PolicyServer> {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first (npm test does)`);
  const [, m] = await child(
    ['--expose-gc', '--single-threaded-gc', '--min-semi-space-size=16', '--max-semi-space-size=16', SERVER],
    // Two malloc arenas and the garbage collector on the main thread: with an arena per helper
    // thread, those alone moved the RSS by MBs between two readings; a fixed young generation,
    // so the heap's sizing does not either.
    { POLICY: policy, MAX_BUFFER: String(MAX_BUFFER), MALLOC_ARENA_MAX: '2' },
    /listening (\d+)/,
  );
  const url = `http://127.0.0.1:${m[1]}`;
  const call = async <T>(method: string, path: string): Promise<T> =>
    (await (await fetch(`${url}${path}`, { method })).json()) as T;
  return {
    url,
    get: (path) => call('GET', path),
    post: (path) => call('POST', path),
    async until(path, predicate, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await call<Parameters<typeof predicate>[0]>('GET', path);
        if (predicate(value)) return value;
        if (Date.now() > deadline)
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${JSON.stringify(value)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

/** The 1,000 readers in their own process; `report()` reads how many of their streams ended. */
async function readers(url: string): Promise<{ report(): Promise<{ bytes: number; ended: number }> }> {
  const [proc] = await child([READERS, `${url}/?channel=ticker`, String(READER_COUNT)], {}, /ready/);
  const lines = createInterface({ input: proc.stdout! });
  return {
    report: () =>
      new Promise((resolve) => {
        const onLine = (line: string) => {
          const m = /^report (\d+) (\d+)$/.exec(line);
          if (m === null) return;
          lines.off('line', onLine);
          resolve({ bytes: Number(m[1]), ended: Number(m[2]) });
        };
        lines.on('line', onLine);
        proc.stdin!.write('report\n');
      }),
  };
}

type Stats = { connections: number; slow: number; backlog: number };
type Memory = { rss: number; heapUsed: number; external: number; arrayBuffers: number };
type Tick = { i: number; k: string };

/**
 * The server's memory, the lowest of five readings 200 ms apart. The other 1,000 readers' write
 * queues come and go with each 20 ms batch (more of them on a loaded machine: a CI run saw +2.4 MB
 * of buffers in one reading); what the stalled client holds stays in every reading.
 */
async function steadyMemory(server: { get<T>(path: string): Promise<T> }): Promise<Memory> {
  let lowest: Memory | undefined;
  for (let n = 0; n < 5; n++) {
    if (n > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    const reading = await server.get<Memory>('/memory');
    if (lowest === undefined || reading.rss < lowest.rss) lowest = reading;
  }
  return lowest!;
}

const ticks = (c: SseClient): SseEvent[] => c.named('tick');
const tickOf = (e: SseEvent): Tick => JSON.parse(e.data) as Tick;
const missedOf = (c: SseClient) =>
  c.named('stream-missed').map((e) => JSON.parse(e.data) as { missed: number; conflated: number });

/**
 * The common run: server, 1,000 readers publishing at 10,000/s; a memory reading once they have
 * read for two seconds; then the client connects, reads a little and stops reading. Once its
 * kernel buffers are full (the server holds half the bound for it: a drop-oldest or conflate
 * stream parks from there) or it was cut, STALLED_EVENTS more are published.
 */
async function stallOne(policy: string) {
  const server = await policyServer(policy);
  const others = await readers(server.url);
  await server.until<Stats>('/stats', (s) => s.connections === READER_COUNT, 60_000, 'the readers open');
  await server.post(`/start?rate=${RATE}`);
  await server.until<{ published: number }>(
    '/published',
    (p) => p.published >= RATE * 2,
    60_000,
    'two seconds',
  );
  // The policy's code runs once before the memory reading (a first client stalls until it parks,
  // then leaves): compiling it takes memory the process keeps, which is not what a client holds.
  if (policy !== 'disconnect') {
    const warm = await connect(`${server.url}/?channel=ticker`);
    await warm.waitFor((c) => ticks(c).length >= 100, 60_000, 'the first events');
    warm.pause();
    await server.until<Stats>(
      '/stats',
      (s) => s.backlog >= MAX_BUFFER / 2,
      120_000,
      'a first stalled stream',
    );
    const { published } = await server.get<{ published: number }>('/published');
    await server.until<{ published: number }>(
      '/published',
      (p) => p.published >= published + STALLED_EVENTS,
      120_000,
      'parking',
    );
    warm.close();
    await server.until<Stats>(
      '/stats',
      (s) => s.connections === READER_COUNT,
      60_000,
      'the first stalled stream gone',
    );
  }
  const before = await steadyMemory(server);
  const client = await connect(`${server.url}/?channel=ticker`);
  cleanups.push(() => client.close());
  await client.waitFor((c) => ticks(c).length >= 100, 60_000, 'the first events');
  client.pause();
  const first = tickOf(ticks(client)[0]!).i;
  await server.until<Stats>(
    '/stats',
    (s) => s.slow > 0 || s.backlog >= MAX_BUFFER / 2,
    120_000,
    'the stalled stream backlogged',
  );
  const { published: atStall } = await server.get<{ published: number }>('/published');
  await server.until<{ published: number }>(
    '/published',
    (p) => p.published >= atStall + STALLED_EVENTS,
    120_000,
    `${STALLED_EVENTS} events published during the stall`,
  );
  return { server, others, client, before, first };
}

describe(`overload policies: one stalled client among ${READER_COUNT} readers at ${RATE} events/s`, () => {
  it('disconnect: the stalled client is cut, the readers stay', async () => {
    const { server, others, client } = await stallOne('disconnect');
    const stats = await server.get<Stats>('/stats');
    await server.post('/stop');
    expect(stats).toMatchObject({ connections: READER_COUNT, slow: 1 });
    expect((await others.report()).ended).toBe(0);
    // What it reads is what was written before the cut, then the end of the stream.
    client.resume();
    await client.waitFor((c) => c.ended, 60_000, 'the stream to end');
    expect(missedOf(client)).toEqual([]);
  }, 240_000);

  it('drop-oldest: it stays with bounded memory; reading again it gets stream-missed, then the newest events', async () => {
    const { server, others, client, before, first } = await stallOne('drop-oldest');
    const after = await steadyMemory(server);
    const stats = await server.get<Stats>('/stats');
    const { published } = await server.post<{ published: number }>('/stop');
    expect(stats).toMatchObject({ connections: READER_COUNT + 1, slow: 0 });
    expect(after.rss - before.rss, JSON.stringify({ before, after })).toBeLessThanOrEqual(
      MAX_BUFFER + 1024 * 1024,
    );
    expect((await others.report()).ended).toBe(0);

    client.resume();
    await client.waitFor(
      (c) =>
        ticks(c)
          .at(-1)
          ?.data.startsWith(`{"i":${published - 1},`) === true,
      60_000,
      'the newest event',
    );
    const got = ticks(client).map((e) => tickOf(e).i);
    const notices = missedOf(client);
    const missed = notices.reduce((sum, m) => sum + m.missed, 0);
    expect(missed).toBeGreaterThan(0);
    expect(notices.every((m) => m.conflated === 0)).toBe(true);
    // Every event once or counted as missed, in publish order.
    expect(got.length + missed).toBe(published - first);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(new Set(got).size).toBe(got.length);
    // The oldest were dropped: after the last notice the events run without a hole to the newest.
    const kinds = client.events.map((e) => e.event);
    const tail = client.events.slice(kinds.lastIndexOf('stream-missed') + 1).map((e) => tickOf(e).i);
    expect(tail.length).toBeGreaterThan(0);
    expect(tail).toEqual(tail.map((_, n) => published - tail.length + n));
  }, 240_000);

  it('conflate: it stays with bounded memory; reading again it gets the latest event of each key in order of last change', async () => {
    const { server, others, client, before, first } = await stallOne('conflate');
    const after = await steadyMemory(server);
    const stats = await server.get<Stats>('/stats');
    const { published, keys } = await server.post<{ published: number; keys: string[] }>('/stop');
    expect(stats).toMatchObject({ connections: READER_COUNT + 1, slow: 0 });
    expect(after.rss - before.rss, JSON.stringify({ before, after })).toBeLessThanOrEqual(
      MAX_BUFFER + 1024 * 1024,
    );
    expect((await others.report()).ended).toBe(0);

    client.resume();
    await client.waitFor(
      (c) =>
        ticks(c)
          .at(-1)
          ?.data.startsWith(`{"i":${published - 1},`) === true,
      60_000,
      'the newest event',
    );
    const got = ticks(client).map(tickOf);
    const notices = missedOf(client);
    const conflated = notices.reduce((sum, m) => sum + m.conflated, 0);
    // 50 keys: the latest of each always fits in the bound, so nothing is lost, only replaced.
    expect(conflated).toBeGreaterThan(0);
    expect(notices.every((m) => m.missed === 0)).toBe(true);
    expect(got.length + conflated).toBe(published - first);
    const order = got.map((t) => t.i);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    // Conflation, not loss: every event the client did not get has a later event of its key that
    // it got. So a catch-up holds the latest event of each key, and these come in id order: the
    // order of their last change. The client ends with every key's last published value.
    const next = new Map<string, number>();
    const gotSet = new Set(order);
    for (let i = published - 1; i >= first; i--) {
      const k = keys[i]!;
      if (!gotSet.has(i)) expect(next.get(k), `event ${i} (${k}) replaced by a later one`).toBeGreaterThan(i);
      if (gotSet.has(i)) next.set(k, i);
    }
    const final = new Map<string, number>();
    for (const t of got) final.set(t.k, t.i);
    const lastOf = new Map<string, number>();
    for (const [i, k] of keys.entries()) if (i >= first) lastOf.set(k, i);
    expect(final).toEqual(lastOf);
  }, 240_000);
});
