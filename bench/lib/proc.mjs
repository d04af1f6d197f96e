// Process helpers for the orchestrator: pinned, fd-limit-raised child processes.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let tasksetPath = null;
try {
  tasksetPath = execFileSync('which', ['taskset'], { encoding: 'utf8' }).trim() || null;
} catch {
  tasksetPath = null;
}
export const TASKSET = tasksetPath;

// Raise the soft fd limit as far as allowed (65536, or the hard limit when that is lower).
const WRAP = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"';

/**
 * Spawns `node <args>` under bash (fd limit) and taskset (cpu pinning, when available).
 * @param {string[]} nodeArgs
 * @param {{ cpu?: number | null, env?: NodeJS.ProcessEnv }} [opts]
 */
export function spawnNode(nodeArgs, { cpu = null, env } = {}) {
  return spawnCmd(process.execPath, nodeArgs, { cpu, env });
}

/**
 * @param {string} bin
 * @param {string[]} argv
 * @param {{ cpu?: number | null, env?: NodeJS.ProcessEnv }} opts
 */
function spawnCmd(bin, argv, { cpu = null, env }) {
  const cmd = [];
  if (cpu !== null && TASKSET) cmd.push(TASKSET, '-c', String(cpu));
  cmd.push(bin, ...argv);
  return spawn('bash', ['-c', WRAP, 'bash', ...cmd], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: env ?? process.env,
  });
}

/**
 * The executable of a JavaScript runtime: this Node, or Bun / Deno from the `bun` and `deno`
 * devDependencies (their npm packages ship the binaries; same lookup as test/helpers/runtime.ts).
 * @param {'node' | 'bun' | 'deno'} runtime
 */
export function runtimeBinary(runtime) {
  if (runtime === 'node') return process.execPath;
  const candidates =
    runtime === 'bun'
      ? ['node_modules/.bin/bun', 'node_modules/@oven/bun-linux-x64/bin/bun']
      : ['node_modules/.bin/deno', 'node_modules/@deno/linux-x64-glibc/deno'];
  const found = candidates.map((c) => path.join(root, c)).find((c) => existsSync(c));
  if (!found) throw new Error(`${runtime} binary not found (npm ci installs it): ${candidates[0]}`);
  return found;
}

/** @type {Record<string, string>} */
const versions = {};
/** `bun --version` / `deno --version` (first line) / Node's version. @param {'node' | 'bun' | 'deno'} runtime */
export function runtimeVersion(runtime) {
  if (runtime === 'node') return process.version;
  versions[runtime] ??= execFileSync(runtimeBinary(runtime), ['--version'], {
    encoding: 'utf8',
    env: runtimeEnv(),
  })
    .split('\n')[0]
    .replace(/^deno /, '')
    .replace(/ \(.*\)$/, '')
    .trim();
  return versions[runtime];
}

/** Deno's and Bun's caches go to one private directory per orchestrator, removed when it exits. */
let scratch = '';
function runtimeEnv() {
  if (!scratch) {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'ees-bench-'));
    process.once('exit', () => rmSync(scratch, { recursive: true, force: true }));
  }
  return {
    ...process.env,
    DENO_DIR: path.join(scratch, 'deno'),
    DENO_NO_UPDATE_CHECK: '1',
    BUN_INSTALL_CACHE_DIR: path.join(scratch, 'bun'),
    DO_NOT_TRACK: '1',
    NO_COLOR: '1',
  };
}

/**
 * Spawns a bench server script under `runtime`, like spawnNode (fd limit, pinning). Node gets
 * `--expose-gc`; Deno `--v8-flags=--expose-gc`, loopback-only network and no prompts; Bun has
 * `Bun.gc()` and needs no flag. Imports resolve from this repository's node_modules on all three.
 * @param {'node' | 'bun' | 'deno'} runtime
 * @param {string} script
 * @param {string[]} args
 * @param {{ cpu?: number | null, nodeArgs?: string[] }} [opts]
 */
export function spawnRuntime(runtime, script, args, { cpu = null, nodeArgs = [] } = {}) {
  if (runtime === 'node') return spawnNode([...nodeArgs, '--expose-gc', script, ...args], { cpu });
  const bin = runtimeBinary(runtime);
  const argv =
    runtime === 'bun'
      ? ['run', '--no-install', script, ...args]
      : [
          'run',
          '--no-prompt',
          '--v8-flags=--expose-gc',
          '--allow-net=127.0.0.1',
          '--allow-read',
          '--allow-write',
          '--allow-env',
          '--allow-sys',
          script,
          ...args,
        ];
  return spawnCmd(bin, argv, { cpu, env: runtimeEnv() });
}

/**
 * Collects a child's stdout lines and stderr tail; resolves `waitLine(prefix)` when a line starts with it.
 * @param {import('node:child_process').ChildProcess} child
 */
export function watch(child) {
  /** @type {string[]} */
  const lines = [];
  let partial = '';
  let stderr = '';
  /** @type {{ prefix: string, resolve: (l: string) => void }[]} */
  const waiters = [];
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d) => {
    partial += d;
    let i = partial.indexOf('\n');
    while (i >= 0) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      lines.push(line);
      for (let w = waiters.length - 1; w >= 0; w--) {
        const waiter = waiters[w];
        if (waiter && line.startsWith(waiter.prefix)) {
          waiters.splice(w, 1);
          waiter.resolve(line);
        }
      }
      i = partial.indexOf('\n');
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    lines,
    get stderr() {
      return stderr;
    },
    exited,
    /** @param {string} prefix @param {number} ms */
    waitLine(prefix, ms) {
      const found = lines.find((l) => l.startsWith(prefix));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${prefix}" line within ${ms} ms`)), ms);
        waiters.push({
          prefix,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`process exited before "${prefix}": ${stderr.slice(-1000)}`));
        });
      });
    },
  };
}

/** Stops a child we started: closes stdin, then SIGTERM, then SIGKILL; bounded in time. */
export async function stop(child, exited, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stdin?.end();
  const t = (ms) => new Promise((r) => setTimeout(r, ms, 'timeout'));
  if ((await Promise.race([exited, t(graceMs)])) !== 'timeout') return;
  child.kill('SIGTERM');
  if ((await Promise.race([exited, t(graceMs)])) !== 'timeout') return;
  child.kill('SIGKILL');
  await Promise.race([exited, t(graceMs)]);
}
