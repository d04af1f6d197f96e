// `npm run demo:redis` as a user runs it (examples/basic/redis.mjs, after the build): a private
// redis-server, Pushpin, origin 1 serving the page and origin 2 running the clock. A stream that
// disconnects and reconnects through origin 1 is replayed the ticks origin 2 published meanwhile,
// and after origin 1 stops, a reconnect fails over to origin 2 and resumes there.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensurePushpin } from '../helpers/pushpin.js';
import { startRedis } from '../helpers/redis.js';
import { connect, type SseClient } from '../helpers/sse-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../examples/basic/redis.mjs', import.meta.url));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
beforeAll(async () => {
  await ensurePushpin();
  // Installs redis-server when missing (the demo itself would too, but not within a test's time).
  await (await startRedis()).stop();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

interface Demo {
  child: ChildProcess;
  base: string;
  origin1: number;
  redisPid: number;
  output(): string;
  exited: Promise<number | string>;
}

async function startDemo(): Promise<Demo> {
  const env: NodeJS.ProcessEnv = { ...process.env, PUSHPIN_PORT: '0', PUSHPIN_PUBLISH_PORT: '0' };
  delete env.REDIS_URL;
  const child = spawn(process.execPath, [SCRIPT], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  const ready = /Ctrl-C stops everything/;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo:redis did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`demo:redis exited (${code}):\n${output}`));
    });
  });
  const field = (re: RegExp) => {
    const m = re.exec(output);
    if (m === null) throw new Error(`no ${re} in the demo's output:\n${output}`);
    return m[1]!;
  };
  return {
    child,
    base: field(/Pushpin \(pid \d+\) on (http:\/\/127\.0\.0\.1:\d+)\//),
    origin1: Number(field(/origin-1 +\S+ +pid (\d+)/)),
    redisPid: Number(field(/redis +redis:\/\/\S+ +pid (\d+)/)),
    output: () => output,
    exited,
  };
}

const STREAM = '/events/?channel=clock&channel=messages';

async function stream(demo: Demo, lastEventId?: string): Promise<SseClient> {
  const c = await connect(`${demo.base}${STREAM}`, {
    accept: 'text/event-stream',
    ...(lastEventId !== undefined && { 'last-event-id': lastEventId }),
  });
  cleanups.push(() => c.close());
  return c;
}

/** Events with ids (ticks and messages), in arrival order. */
const withIds = (c: SseClient) => c.events.filter((e) => e.id !== undefined && e.id !== '');

describe('npm run demo:redis', () => {
  it('replays across origins: ticks from origin 2 through origin 1, then through origin 2 after failover', async () => {
    const demo = await startDemo();
    // The requests the origins logged for the stream URL, per origin.
    const served = (label: string) =>
      demo
        .output()
        .split('\n')
        .filter((l) => l.startsWith(`[${label}]`) && l.includes(`GET ${STREAM}`)).length;

    const first = await stream(demo);
    await first.waitFor((c) => c.named('time').length >= 1, 10_000, 'a tick');
    expect(served('origin-1')).toBe(1);
    const position = withIds(first).at(-1)!.id!;
    first.close();

    // While disconnected: a message (through origin 1) and at least one more tick (origin 2's clock).
    const sent = await fetch(`${demo.base}/messages/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'sent while away' }),
    });
    expect(sent.status).toBe(201);
    const watcher = await stream(demo);
    await watcher.waitFor((c) => c.named('time').length >= 2, 10_000, 'ticks published while away');
    watcher.close();

    const second = await stream(demo, position);
    await second.waitFor((c) => c.named('stream-open').length === 1, 10_000, 'stream-open');
    const replayed = (JSON.parse(second.named('stream-open')[0]!.data) as { replayed: number }).replayed;
    expect(replayed).toBeGreaterThanOrEqual(3);
    await second.waitFor((c) => withIds(c).length >= replayed, 10_000, 'the replay');
    expect(served('origin-1')).toBe(3);
    expect(served('origin-2')).toBe(0);
    const replay = withIds(second).slice(0, replayed);
    expect(replay.map((e) => e.event)).toContain('message');
    expect(replay.filter((e) => e.event === 'time').length).toBeGreaterThanOrEqual(2);
    expect(second.named('stream-reset')).toEqual([]);
    const seqs = replay.map((e) => Number(e.id!.split('-')[1]));
    expect(seqs[0]).toBe(Number(position.split('-')[1]) + 1);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    const resumeFrom = withIds(second).at(-1)!.id!;
    second.close();

    // Origin 1 stops: Pushpin sends the reconnect to origin 2, which resumes from the same id.
    process.kill(demo.origin1, 'SIGTERM');
    expect(await gone(demo.origin1)).toBe(true);
    const third = await stream(demo, resumeFrom);
    await third.waitFor((c) => c.named('time').length >= 1, 10_000, 'a tick after failover');
    expect(served('origin-2')).toBe(1);
    expect(third.named('stream-reset')).toEqual([]);
    expect(Number(withIds(third)[0]!.id!.split('-')[1])).toBe(Number(resumeFrom.split('-')[1]) + 1);

    // Ctrl-C/SIGTERM stops everything, the private redis-server included.
    demo.child.kill('SIGTERM');
    expect(await demo.exited).toBe(0);
    expect(await gone(demo.redisPid)).toBe(true);
  }, 90_000);
});
