// Origin processes on a shared Redis (test/redis/fixtures/origin.mjs, against the built package):
// start one, publish through it, read its counters, kill it.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/origin.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/redis.js', import.meta.url));

export interface PublishOutcome {
  status: number;
  /** The rejection's `code` (and its cause's) when status is 502. */
  code?: string;
  cause?: string;
}

export interface OriginProcess {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  url(path: string): string;
  /** Publish events in order (one request); resolves with the origin's answer. */
  publish(channel: string, events: ReadonlyArray<{ event: string; data: unknown }>): Promise<PublishOutcome>;
  /** Recovery-link requests answered 200, and the Redis bus' counters (when it has one). */
  stats(): Promise<{ recoveries: number; bus?: Record<string, number> }>;
  /** SIGKILL by PID, and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM by PID (closes events and the store), and wait for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts the fixture with `env` (REDIS_URL, NS, BUS, GRIP, SECRET, …; see the fixture) and `NAME`.
 * `cleanups` gets a function that stops it.
 */
export function startOrigin(
  name: string,
  env: Record<string, string>,
  cleanups: Array<() => Promise<void> | void>,
): Promise<OriginProcess> {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first (npm test does)`);
  const child: ChildProcess = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, NAME: name, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (running()) child.kill('SIGTERM');
    await exited;
  };
  cleanups.push(stop);
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening (\d+)/.exec(output);
      if (m === null) return;
      const port = Number(m[1]);
      const base = `http://127.0.0.1:${port}`;
      resolve({
        name,
        port,
        pid: child.pid!,
        url: (path) => `${base}${path}`,
        async publish(channel, events) {
          const res = await fetch(`${base}/publish?channel=${encodeURIComponent(channel)}`, {
            method: 'POST',
            body: JSON.stringify(events),
          });
          const body = (await res.json()) as { code?: string; cause?: string };
          return { status: res.status, ...(res.status !== 200 && { code: body.code, cause: body.cause }) };
        },
        async stats() {
          return (await (await fetch(`${base}/stats`)).json()) as {
            recoveries: number;
            bus?: Record<string, number>;
          };
        },
        async kill() {
          if (running()) child.kill('SIGKILL');
          await exited;
        },
        stop,
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`origin ${name} exited with ${code}:\n${output}`)));
  });
}

/** Publish through `origin` and throw unless it answered 200. */
export async function publishOk(
  origin: OriginProcess,
  channel: string,
  events: ReadonlyArray<{ event: string; data: unknown }>,
): Promise<void> {
  const r = await origin.publish(channel, events);
  if (r.status !== 200) throw new Error(`publish on ${origin.name}: ${r.status} ${r.code} ${r.cause}`);
}
