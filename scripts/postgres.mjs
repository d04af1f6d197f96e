// Runs private, loopback-only PostgreSQL clusters (Debian package `postgresql`) for tests, demos
// and benchmarks: `initdb` in a fresh temp dir, the server on a free 127.0.0.1 port with its
// socket in that dir, readiness by pg_isready, stop by PID. The server refuses to run as root, so
// when we are root both run as the `postgres` system user (the dir is chowned to it). Every wait
// polls a condition with a deadline; nothing sleeps for a fixed time.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './pushpin.mjs';

const HOST = '127.0.0.1';
const ROOT = '/usr/lib/postgresql';

/** The newest installed server's bin dir (Debian keeps them in /usr/lib/postgresql/<ver>/bin). */
export function postgresBinDir() {
  const versions = existsSync(ROOT)
    ? readdirSync(ROOT)
        .filter((v) => existsSync(join(ROOT, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(`PostgreSQL server binaries not found under ${ROOT}: apt-get install postgresql`);
  }
  return join(ROOT, versions[0], 'bin');
}

/** uid/gid of the `postgres` user when we are root (the server refuses root), else undefined. */
function serverUser() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) throw new Error('running as root needs the postgres system user');
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`postgres harness: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Start a private cluster. Options: `port`/`dir` (reuse them to start a server on the same data
 * again), `config` (extra `-c name=value` settings), `readyTimeoutMs`.
 * Returns `{ port, dir, url, pid, running, kill(), crash(), start(), stop(), tailLog() }`.
 */
export async function startPostgres(options = {}) {
  const bin = postgresBinDir();
  const user = serverUser();
  const [port] = options.port !== undefined ? [options.port] : await freePorts(1);
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'ees-pg-')));
  const ownsDir = options.dir === undefined;
  const data = join(dir, 'data');
  const ids = user === undefined ? {} : { uid: user.uid, gid: user.gid };
  if (user !== undefined) chownSync(dir, user.uid, user.gid);
  if (!existsSync(join(data, 'PG_VERSION'))) {
    const init = spawnSync(
      join(bin, 'initdb'),
      ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--locale=C'],
      { encoding: 'utf8', cwd: dir, ...ids },
    );
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  }
  const settings = {
    listen_addresses: HOST,
    unix_socket_directories: dir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '200',
    logging_collector: 'off',
    ...options.config,
  };
  let proc;
  let exited;
  const logPath = join(dir, 'server.log');

  async function launch() {
    const args = ['-D', data, '-p', String(port)];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
    const log = openSync(logPath, 'a');
    if (user !== undefined) chownSync(logPath, user.uid, user.gid);
    proc = spawn(join(bin, 'postgres'), args, { cwd: dir, stdio: ['ignore', log, log], ...ids });
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.once('error', () => {});
    try {
      await waitFor(
        () => {
          if (!isRunning()) throw new Error(`postgres exited: ${tailLog()}`);
          const r = spawnSync(join(bin, 'pg_isready'), ['-h', HOST, '-p', String(port), '-U', 'postgres']);
          return r.status === 0;
        },
        options.readyTimeoutMs ?? 30_000,
        `postgres on port ${port}`,
      );
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
  }

  function tailLog() {
    return existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n') : '(no log)';
  }

  function isRunning() {
    return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
  }

  async function signalAndWait(signal) {
    if (!isRunning()) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  const killOnExit = () => proc?.kill('SIGQUIT');
  process.once('exit', killOnExit);
  await launch();

  return {
    port,
    dir,
    url: `postgres://postgres@${HOST}:${port}/postgres`,
    get pid() {
      return proc?.pid;
    },
    get running() {
      return isRunning();
    },
    tailLog,
    /** Immediate shutdown (SIGQUIT: every backend ends at once, crash recovery on start). */
    async crash() {
      await signalAndWait('SIGQUIT');
    },
    /** Fast shutdown (SIGINT: sessions are ended, a clean checkpoint). */
    async pause() {
      await signalAndWait('SIGINT');
    },
    /** Start again on the same port and data dir. */
    async start() {
      if (isRunning()) return;
      await launch();
    },
    /** Stop by PID and delete the data dir (when the harness created it). */
    async stop() {
      process.removeListener('exit', killOnExit);
      await signalAndWait('SIGINT');
      if (ownsDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
