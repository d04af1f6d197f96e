// Builds and serves a Next.js app for tests: the fixture is copied to a private directory under
// .tmp/ (inside the repository, so `next` and this package resolve from its node_modules; `next
// build` writes .next/, next-env.d.ts and tsconfig.json there, never into the fixture; the
// package itself is linked as node_modules/express-eventstream), built
// with `next build`, and served by `next start` on a free 127.0.0.1 port (port 0: Next prints
// the one it got). Stopped by PID; the directory is removed.
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const nextBin = join(root, 'node_modules/next/dist/bin/next');
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NO_COLOR: '1', FORCE_COLOR: '0' };

export interface NextApp {
  url(path: string): string;
  /** Wall time of `next build` (ms), for the report; not asserted. */
  buildMs: number;
  output(): string;
  stop(): Promise<void>;
}

function run(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [nextBin, ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`next ${args[0]} failed (${code}):\n${out}`)),
    );
  });
}

export async function buildAndStartNext(fixture: string, readyTimeoutMs = 60_000): Promise<NextApp> {
  mkdirSync(join(root, '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(root, '.tmp', 'next-app-'));
  cpSync(fixture, dir, { recursive: true });
  // The app depends on this package as users install it: node_modules/express-eventstream (here
  // a link to the repository, so its package.json "exports" and the built dist/ are used).
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'express-eventstream'), 'dir');
  const started = Date.now();
  try {
    await run(['build'], dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const buildMs = Date.now() - started;
  const child: ChildProcess = spawn(process.execPath, [nextBin, 'start', '-p', '0', '-H', '127.0.0.1'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`next start not ready in ${readyTimeoutMs} ms:\n${out}`)),
        readyTimeoutMs,
      );
      const check = () => {
        const local = /Local:\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (local && /Ready in/.test(out)) {
          clearTimeout(timer);
          resolve(Number(local[1]));
        }
      };
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        check();
      });
      child.stderr?.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`next start exited (${code}) before it was ready:\n${out}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: (path) => `http://127.0.0.1:${port}${path}`, buildMs, output: () => out, stop };
}
