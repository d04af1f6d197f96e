// `npm run demo:redis` as a user runs it (examples/basic/redis.mjs, after the build), both ways:
// - by default, two processes on a private redis-server, no proxy: the web process (no clock)
//   serves the page, the clock process publishes the ticks, and the Redis bus carries them (and
//   messages posted to either process) to the clients of both, with the same ids; a client
//   resumes on the other process; a real Chromium page on the web process shows the ticks and a
//   message posted to the clock process;
// - with --pushpin: Pushpin, origin 1 serving the page and origin 2 running the clock. A stream
//   that disconnects and reconnects through origin 1 is replayed the ticks origin 2 published
//   meanwhile, and after origin 1 stops, a reconnect fails over to origin 2 and resumes there.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserSession, launchBrowser } from '../helpers/browser.js';
import { ensurePushpin } from '../helpers/pushpin.js';
import { startRedis } from '../helpers/redis.js';
import { connect, type SseClient, type SseEvent } from '../helpers/sse-client.js';

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
  output(): string;
  /** The first group of `re` in the demo's output so far. */
  field(re: RegExp): string;
  exited: Promise<number | string>;
}

/** Runs the demo script with `args`; resolves once it printed its URLs. */
async function startDemo(args: string[], extraEnv: Record<string, string>): Promise<Demo> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
  delete env.REDIS_URL;
  const child = spawn(process.execPath, [SCRIPT, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo:redis did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ctrl-C stops everything')) {
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
  return {
    child,
    output: () => output,
    field(re) {
      const m = re.exec(output);
      if (m === null) throw new Error(`no ${re} in the demo's output:\n${output}`);
      return m[1]!;
    },
    exited,
  };
}

const STREAM = '/events/?channel=clock&channel=messages';

async function stream(base: string, lastEventId?: string): Promise<SseClient> {
  const c = await connect(`${base}${STREAM}`, {
    accept: 'text/event-stream',
    ...(lastEventId !== undefined && { 'last-event-id': lastEventId }),
  });
  cleanups.push(() => c.close());
  return c;
}

/** Events with ids (ticks and messages), in arrival order. */
const withIds = (c: SseClient) => c.events.filter((e) => e.id !== undefined && e.id !== '');
const seqOf = (id: string) => Number(id.split('-')[1]);
const idsOf = (events: readonly SseEvent[]) => events.map((e) => e.id);

async function postMessage(base: string, text: string): Promise<void> {
  const sent = await fetch(`${base}/messages/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  expect(sent.status).toBe(201);
}

describe('npm run demo:redis (two processes on one Redis, no proxy)', () => {
  let browser: BrowserSession | undefined;
  afterAll(async () => {
    await browser?.close();
  });

  it('the web process (no clock) streams the clock process’ ticks and messages through the Redis bus, with the same ids, and a client resumes on either process', async () => {
    const demo = await startDemo([], { PORT: '0' });
    const web = demo.field(/ web +(http:\/\/127\.0\.0\.1:\d+)\//);
    const clock = demo.field(/ clock +(http:\/\/127\.0\.0\.1:\d+)\//);
    const webPid = Number(demo.field(/ web +\S+ +pid (\d+)/));
    const clockPid = Number(demo.field(/ clock +\S+ +pid (\d+)/));
    const redisPid = Number(demo.field(/ redis +redis:\/\/\S+ +pid (\d+)/));
    expect(demo.output()).toContain('[web]');

    // One client on each process. The web process runs no clock: its ticks come through Redis.
    // Each waits for stream-open: its process' bus is then subscribed, so from the second one's
    // stream-open on, both get every event.
    const onWeb = await stream(web);
    await onWeb.waitFor((c) => c.named('stream-open').length === 1, 10_000, 'stream-open (web)');
    const onClock = await stream(clock);
    await onClock.waitFor((c) => c.named('stream-open').length === 1, 10_000, 'stream-open (clock)');
    await onWeb.waitFor((c) => c.named('time').length >= 2, 10_000, 'two ticks on the web process');
    await postMessage(clock, 'posted to the clock process');
    await postMessage(web, 'posted to the web process');
    for (const c of [onWeb, onClock]) {
      await c.waitFor((x) => x.named('message').length === 2, 10_000, 'both messages');
    }
    await onClock.waitFor(
      (c) => withIds(c).some((e) => e.id === withIds(onWeb).at(-1)!.id),
      10_000,
      'the web client’s last event on the clock process',
    );
    // The same events with the same ids on both processes, from where both clients overlap.
    const first = withIds(onWeb).findIndex((e) => e.id === withIds(onClock)[0]!.id);
    expect(first).toBeGreaterThanOrEqual(0);
    const fromWeb = withIds(onWeb).slice(first);
    const fromClock = withIds(onClock);
    const k = Math.min(fromWeb.length, fromClock.length);
    expect(k).toBeGreaterThanOrEqual(2);
    expect(idsOf(fromClock.slice(0, k))).toEqual(idsOf(fromWeb.slice(0, k)));
    expect(onWeb.named('message').map((e) => JSON.parse(e.data).text)).toEqual([
      'posted to the clock process',
      'posted to the web process',
    ]);
    for (const c of [onWeb, onClock]) {
      const seqs = withIds(c).map((e) => seqOf(e.id!));
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }

    // Leave the web process; come back on the clock process with the web process' last id.
    const position = withIds(onWeb).at(-1)!.id!;
    onWeb.close();
    const ticksThen = onClock.named('time').length;
    await postMessage(clock, 'sent while away');
    await onClock.waitFor((c) => c.named('time').length >= ticksThen + 2, 10_000, 'ticks while away');
    const back = await stream(clock, position);
    await back.waitFor((c) => c.named('stream-open').length === 1, 10_000, 'stream-open');
    const replayed = (JSON.parse(back.named('stream-open')[0]!.data) as { replayed: number }).replayed;
    expect(replayed).toBeGreaterThanOrEqual(3);
    await back.waitFor((c) => withIds(c).length >= replayed, 10_000, 'the replay');
    expect(back.named('stream-reset')).toEqual([]);
    const replay = withIds(back).slice(0, replayed);
    expect(replay.map((e) => e.event)).toContain('message');
    expect(seqOf(replay[0]!.id!)).toBe(seqOf(position) + 1);
    // Exactly what the clock-side client got after that position, in the same order.
    const after = withIds(onClock).filter((e) => seqOf(e.id!) > seqOf(position));
    expect(idsOf(replay)).toEqual(idsOf(after.slice(0, replay.length)));

    // A real page on the web process shows the ticks and a message posted to the clock process.
    browser = await launchBrowser();
    const page = await browser.newPage();
    await page.goto(`${web}/`);
    await page.locator('#status[data-state="open"]').waitFor({ timeout: 10_000 });
    await expect
      .poll(() => page.locator('#event-log li[data-type="time"]').count(), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(2);
    await postMessage(clock, 'to the page, through Redis');
    await expect
      .poll(() => page.locator('#event-log li[data-type="message"] .data').allTextContents(), {
        timeout: 10_000,
      })
      .toEqual([expect.stringContaining('to the page, through Redis')]);
    expect(browser.problems).toEqual([]);
    await page.close();

    // Ctrl-C/SIGTERM stops everything: both processes and the private redis-server.
    demo.child.kill('SIGTERM');
    expect(await demo.exited).toBe(0);
    for (const pid of [webPid, clockPid, redisPid]) expect(await gone(pid)).toBe(true);
  }, 90_000);
});

describe('npm run demo:redis -- --pushpin', () => {
  it('replays across origins: ticks from origin 2 through origin 1, then through origin 2 after failover', async () => {
    const demo = await startDemo(['--pushpin'], { PUSHPIN_PORT: '0', PUSHPIN_PUBLISH_PORT: '0' });
    const base = demo.field(/Pushpin \(pid \d+\) on (http:\/\/127\.0\.0\.1:\d+)\//);
    const origin1 = Number(demo.field(/origin-1 +\S+ +pid (\d+)/));
    const redisPid = Number(demo.field(/redis +redis:\/\/\S+ +pid (\d+)/));
    // The requests the origins logged for the stream URL, per origin.
    const served = (label: string) =>
      demo
        .output()
        .split('\n')
        .filter((l) => l.startsWith(`[${label}]`) && l.includes(`GET ${STREAM}`)).length;

    const first = await stream(base);
    await first.waitFor((c) => c.named('time').length >= 1, 10_000, 'a tick');
    expect(served('origin-1')).toBe(1);
    const position = withIds(first).at(-1)!.id!;
    first.close();

    // While disconnected: a message (through origin 1) and at least one more tick (origin 2's clock).
    await postMessage(base, 'sent while away');
    const watcher = await stream(base);
    await watcher.waitFor((c) => c.named('time').length >= 2, 10_000, 'ticks published while away');
    watcher.close();

    const second = await stream(base, position);
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
    const seqs = replay.map((e) => seqOf(e.id!));
    expect(seqs[0]).toBe(seqOf(position) + 1);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    const resumeFrom = withIds(second).at(-1)!.id!;
    second.close();

    // Origin 1 stops: Pushpin sends the reconnect to origin 2, which resumes from the same id.
    process.kill(origin1, 'SIGTERM');
    expect(await gone(origin1)).toBe(true);
    const third = await stream(base, resumeFrom);
    await third.waitFor((c) => c.named('time').length >= 1, 10_000, 'a tick after failover');
    expect(served('origin-2')).toBe(1);
    expect(third.named('stream-reset')).toEqual([]);
    expect(seqOf(withIds(third)[0]!.id!)).toBe(seqOf(resumeFrom) + 1);

    // Ctrl-C/SIGTERM stops everything, the private redis-server included.
    demo.child.kill('SIGTERM');
    expect(await demo.exited).toBe(0);
    expect(await gone(redisPid)).toBe(true);
  }, 90_000);
});
