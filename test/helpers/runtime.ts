// Runs a server script under another JavaScript runtime (Bun, Deno, or Node in a child process)
// on a free 127.0.0.1 port. The script listens on port 0 and prints `READY <port>` once it
// accepts connections; it is stopped by PID. The runtimes come from the `bun` and `deno` npm
// packages (devDependencies), which ship the binaries: nothing is downloaded.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Runtime = 'node' | 'bun' | 'deno';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The runtime's executable; throws (so the test fails, never skips) when it is missing. */
export function runtimeBinary(runtime: Runtime): string {
  if (runtime === 'node') return process.execPath;
  const candidates =
    runtime === 'bun'
      ? [join(root, 'node_modules/.bin/bun'), join(root, 'node_modules/@oven/bun-linux-x64/bin/bun')]
      : [join(root, 'node_modules/.bin/deno'), join(root, 'node_modules/@deno/linux-x64-glibc/deno')];
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined)
    throw new Error(`${runtime} binary not found (npm ci installs it): ${candidates[0]}`);
  return found;
}

export interface RuntimeServer {
  runtime: Runtime;
  port: number;
  url(path: string): string;
  /** Everything the script wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Ms to wait for `READY <port>`; the first Deno run compiles TypeScript deps. */
  readyTimeoutMs?: number;
}

function argsFor(runtime: Runtime, script: string): string[] {
  switch (runtime) {
    case 'node':
      return [script];
    case 'bun':
      return ['run', '--no-install', script];
    case 'deno':
      // Deno finds package.json next to node_modules and resolves bare specifiers from
      // node_modules ("bring your own node_modules"); nothing is fetched. Network access is
      // limited to loopback.
      return ['run', '--no-prompt', '--allow-net=127.0.0.1', '--allow-read', '--allow-env', script];
  }
}

export async function startRuntimeServer(
  runtime: Runtime,
  script: string,
  options: StartOptions = {},
): Promise<RuntimeServer> {
  // A private cache/config dir per server, removed on stop.
  const home = mkdtempSync(join(tmpdir(), `ees-${runtime}-`));
  const child: ChildProcess = spawn(runtimeBinary(runtime), argsFor(runtime, script), {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      DENO_DIR: join(home, 'deno'),
      DENO_NO_UPDATE_CHECK: '1',
      BUN_INSTALL_CACHE_DIR: join(home, 'bun'),
      DO_NOT_TRACK: '1',
      NO_COLOR: '1',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`;
      resolve();
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${runtime} ${script} not ready in ${options.readyTimeoutMs ?? 30_000} ms:\n${out}`));
    }, options.readyTimeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /^READY (\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`${runtime} ${script} ${exited ?? 'exited'} before it was ready:\n${out}`));
    });
  });
  return {
    runtime,
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    output: () => out,
    async stop() {
      if (exited === undefined && child.pid !== undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exit;
        clearTimeout(timer);
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}
