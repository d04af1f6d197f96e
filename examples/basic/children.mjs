// The demo launchers' child processes (demo:pushpin, demo:redis): start one with its output
// prefixed by a label, learn its port from its "listening on" line, stop it by PID.
import { spawn } from 'node:child_process';

/** The port in environment variable `name` (0-65535), or `fallback`; exits on a bad value. */
export function portFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`${name} must be an integer from 0 to 65535, got ${JSON.stringify(raw)}`);
    process.exit(1);
  }
  return port;
}

/** Spawns one origin and resolves with its port once it prints its "listening on" line. */
export function startOrigin(label, args, env) {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = (chunk) =>
    chunk
      .toString()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => `[${label}] ${l}\n`)
      .join('');
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${label} did not start within 10 s:\n${seen}`)), 10_000);
    const onData = (chunk) => {
      process.stdout.write(prefix(chunk));
      seen += chunk.toString();
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), label });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with code ${code}:\n${seen}`));
    });
  });
}

/** SIGTERM by PID, SIGKILL after 5 s; resolves once it exited. */
export function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
