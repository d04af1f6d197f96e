// `npm run demo:postgres` as a user runs it (examples/basic/postgres.mjs, after the build): two
// processes on a private PostgreSQL cluster. The web process (no clock) streams the clock process'
// ticks and the messages posted to either, with the same ids, and a client resumes on either.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '../helpers/postgres.js';
import { connect, type SseClient } from '../helpers/sse-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../examples/basic/postgres.mjs', import.meta.url));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
beforeAll(async () => {
  // Installs the server when missing (the demo itself would too, but not within a test's time).
  await (await startPostgres()).stop();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startDemo(): Promise<{
  child: ChildProcess;
  field(re: RegExp): string;
  exited: Promise<unknown>;
}> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' };
  delete env.DATABASE_URL;
  const child = spawn(process.execPath, [SCRIPT], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', resolve));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo:postgres did not start:\n${output}`)), 60_000);
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
      reject(new Error(`demo:postgres exited (${code}):\n${output}`));
    });
  });
  return {
    child,
    exited,
    field(re) {
      const m = re.exec(output);
      if (m === null) throw new Error(`no ${re} in the demo's output:\n${output}`);
      return m[1]!;
    },
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

async function postMessage(base: string, text: string): Promise<void> {
  const sent = await fetch(`${base}/messages/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  expect(sent.status).toBe(201);
}

const withIds = (c: SseClient) => c.events.filter((e) => e.id !== undefined && e.id !== '');

describe('npm run demo:postgres (two processes on one PostgreSQL database)', () => {
  it('the web process (no clock) streams the clock process’ ticks and messages with the same ids, and a client resumes on the other process; Ctrl-C stops every process', async () => {
    const demo = await startDemo();
    const web = demo.field(/ web +(http:\/\/127\.0\.0\.1:\d+)\//);
    const clock = demo.field(/ clock +(http:\/\/127\.0\.0\.1:\d+)\//);
    const pids = [
      / web +\S+ +pid (\d+)/,
      / clock +\S+ +pid (\d+)/,
      / postgres +postgres:\/\/\S+ +pid (\d+)/,
    ].map((re) => Number(demo.field(re)));
    const onWeb = await stream(web);
    await onWeb.waitFor((c) => c.named('stream-open').length === 1, 10_000, 'stream-open (web)');
    await onWeb.waitFor((c) => c.named('time').length >= 2, 15_000, 'two ticks on the web process');
    await postMessage(clock, 'posted to the clock process');
    await onWeb.waitFor((c) => c.named('message').length === 1, 10_000, 'the message on the web process');
    const position = withIds(onWeb).at(-1)!.id!;
    onWeb.close();
    await postMessage(web, 'posted while away');
    // Resume on the clock process: everything after the position, the message posted to web included.
    const back = await stream(clock, position);
    await back.waitFor((c) => c.named('message').length === 1, 10_000, 'the missed message');
    expect(JSON.parse(back.named('message')[0]!.data).text).toBe('posted while away');
    expect(back.named('stream-reset')).toEqual([]);
    const seqs = withIds(back).map((e) => Number(e.id!.split('-')[1]));
    expect(seqs[0]).toBe(Number(position.split('-')[1]) + 1);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));

    demo.child.kill('SIGINT');
    await demo.exited;
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
  }, 90_000);
});
