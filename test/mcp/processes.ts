// MCP server processes (test/mcp/fixtures/server.mjs, against the built package): start one, wait
// for its log lines, open its tool gate, kill it.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/server.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/mcp.js', import.meta.url));

export interface McpProcess {
  readonly name: string;
  readonly port: number;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves with the first match of `pattern` in its output (waiting for it). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Opens the gate of its `count` calls. */
  release(): Promise<void>;
  /** SIGKILL by PID, and wait for the exit. */
  kill(): Promise<void>;
}

export function startMcpProcess(
  name: string,
  env: Record<string, string>,
  cleanups: Array<() => Promise<void> | void>,
): Promise<McpProcess> {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first`);
  const child: ChildProcess = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, NAME: name, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  cleanups.push(async () => {
    if (running()) child.kill('SIGTERM');
    await exited;
  });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const check of waiters) check();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const waitFor = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${name}: no ${pattern} within ${timeoutMs} ms; output:\n${output}`));
      }, timeoutMs);
      const check = () => {
        const match = pattern.exec(output);
        if (match === null) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(match);
      };
      waiters.add(check);
      check();
    });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}:\n${output}`)));
    waitFor(/listening (\d+)/).then((match) => {
      const port = Number(match[1]);
      resolve({
        name,
        port,
        output: () => output,
        waitFor,
        async release() {
          const res = await fetch(`http://127.0.0.1:${port}/release`, { method: 'POST' });
          await res.text();
        },
        async kill() {
          if (running()) child.kill('SIGKILL');
          await exited;
        },
      });
    }, reject);
  });
}
