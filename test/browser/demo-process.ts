// Runs examples/basic/server.mjs as a child process, as `npm start` does (after the build), and
// reads its stdout: the "listening on <url>" line and one line per HTTP request.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEMO_SCRIPT = fileURLToPath(new URL('../../examples/basic/server.mjs', import.meta.url));

export interface DemoProcess {
  readonly port: number;
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** Request targets logged so far for `method`, e.g. `/events/?channel=clock`. */
  requests(method?: string): string[];
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Sends `signal` (default SIGTERM) and waits for exit; SIGKILL after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

export interface StartDemoOptions {
  /** 0 (default) lets the server pick a free port; reuse a port to restart on it. */
  port?: number;
  /** Extra environment, e.g. GRIP_URL. */
  env?: Record<string, string>;
  /** How long to wait for the "listening" line. */
  timeoutMs?: number;
  /** The script to run; defaults to examples/basic/server.mjs. */
  script?: string;
}

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:(\d+)\/)/;
const REQUEST_LINE = /^\S+ ([A-Z]+) (\/\S*)$/;

export async function startDemo(options: StartDemoOptions = {}): Promise<DemoProcess> {
  const { port = 0, env = {}, timeoutMs = 15_000, script = DEMO_SCRIPT } = options;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env };
  if (env.GRIP_URL === undefined) delete childEnv.GRIP_URL;
  const child = spawn(process.execPath, [script], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });

  const stop = async (
    signal: NodeJS.Signals = 'SIGTERM',
    stopTimeoutMs = 5_000,
  ): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return exited;
  };

  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`demo did not print its URL within ${timeoutMs} ms; output:\n${output}`));
    }, timeoutMs);
    const onData = (): void => {
      const m = LISTENING.exec(output);
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`demo exited (${code ?? signal}) before listening; output:\n${output}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  }).catch(async (err: unknown) => {
    await stop('SIGKILL');
    throw err;
  });

  return {
    port: Number(match[2]),
    url: match[1]!,
    child,
    output: () => output,
    requests(method = 'GET') {
      const targets: string[] = [];
      for (const line of output.split('\n')) {
        const m = REQUEST_LINE.exec(line);
        if (m && m[1] === method) targets.push(m[2]!);
      }
      return targets;
    },
    exited,
    stop,
  };
}
