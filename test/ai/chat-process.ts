// Chat server processes (fixtures/chat-server.mjs, on the built package): start one, release its
// model's tokens, read its model counters, kill it.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/chat-server.mjs', import.meta.url));

export interface ChatProcess {
  url(path: string): string;
  /** Let `count` more model tokens out. */
  release(count: number): Promise<void>;
  model(): Promise<{ calls: number; aborted: number }>;
  kill(): Promise<void>;
}

export function startChatProcess(
  env: Record<string, string>,
  cleanups: Array<() => Promise<void> | void>,
): Promise<ChatProcess> {
  const child: ChildProcess = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async (signal: NodeJS.Signals) => {
    if (running()) child.kill(signal);
    await exited;
  };
  cleanups.push(() => stop('SIGTERM'));
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening (\d+)/.exec(output);
      if (m === null) return;
      child.stdout!.off('data', onData);
      const base = `http://127.0.0.1:${m[1]}`;
      resolve({
        url: (path) => `${base}${path}`,
        async release(count) {
          const res = await fetch(`${base}/test/release?count=${count}`, { method: 'POST' });
          if (!res.ok) throw new Error(`release: ${res.status}`);
          await res.text();
        },
        async model() {
          return (await (await fetch(`${base}/test/model`)).json()) as { calls: number; aborted: number };
        },
        kill: () => stop('SIGKILL'),
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`chat server exited with ${code}:\n${output}`)));
  });
}
