// Process helpers for the orchestrator: pinned, fd-limit-raised child processes.

import { execFileSync, spawn } from 'node:child_process';

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
  const cmd = [];
  if (cpu !== null && TASKSET) cmd.push(TASKSET, '-c', String(cpu));
  cmd.push(process.execPath, ...nodeArgs);
  return spawn('bash', ['-c', WRAP, 'bash', ...cmd], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: env ?? process.env,
  });
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
