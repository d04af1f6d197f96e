// Engine peers on a shared database (test/postgres/fixtures/engine-peer.mjs, the built package):
// start one, call its endpoints, stop it by PID.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/engine-peer.mjs', import.meta.url));

export interface Peer {
  readonly port: number;
  url(path: string): string;
  /** A request to the peer; its JSON answer and status. */
  call(path: string, method?: 'GET' | 'POST'): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Everything the process wrote to stderr (its 'error' events). */
  readonly errors: () => string;
}

export function startPeer(
  env: Record<string, string>,
  cleanups: Array<() => Promise<void> | void>,
): Promise<Peer> {
  const child: ChildProcess = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening (\d+)/.exec(out);
      if (m === null) return;
      const base = `http://127.0.0.1:${m[1]}`;
      resolve({
        port: Number(m[1]),
        url: (path) => `${base}${path}`,
        async call(path, method = 'POST') {
          const res = await fetch(`${base}${path}`, { method });
          return { status: res.status, body: (await res.json()) as Record<string, unknown> };
        },
        errors: () => stderr,
      });
    });
    child.once('exit', (code) => reject(new Error(`peer exited with ${code}:\n${out}${stderr}`)));
  });
}
