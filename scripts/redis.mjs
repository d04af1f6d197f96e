// Runs private, loopback-only redis-server processes (Debian package `redis-server`, 7.0) for
// tests and demos: a generated config in a fresh temp dir, a free port, readiness by PING, stop
// by PID. Fault tests kill -9 a server and start it again on the same port and data dir; a
// 3-master cluster is built with `redis-cli --cluster create`. Every wait is bounded and polls a
// condition; nothing sleeps for a fixed time.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './pushpin.mjs';

const HOST = '127.0.0.1';

/** Send one inline command and resolve with the raw reply text ('' when the server is not there). */
export function rawCommand(port, command, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    let reply = '';
    const done = (text) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    };
    const timer = setTimeout(() => done(reply), timeoutMs);
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      // Simple (+/-/:) replies end at the first CRLF; bulk replies at the CRLF after the body.
      if (/^[+\-:]/.test(reply) && reply.includes('\r\n')) done(reply);
      const bulk = /^\$(-?\d+)\r\n/.exec(reply);
      if (bulk && (Number(bulk[1]) < 0 || reply.length >= bulk[0].length + Number(bulk[1]) + 2)) done(reply);
    });
    socket.on('error', () => done(''));
  });
}

/** Poll `check` every 20 ms until it returns true or the deadline passes. */
async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`redis harness: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function configText({ port, dir, aof, cluster, clusterPort, extra }) {
  const lines = [
    `bind ${HOST}`,
    `port ${port}`,
    `dir ${dir}`,
    'daemonize no',
    'logfile redis.log',
    // No RDB snapshots: persistence is exactly what `aof` says, so a restart without AOF loses
    // everything (what the epoch tests need).
    'save ""',
    `appendonly ${aof ? 'yes' : 'no'}`,
    'appendfsync everysec',
    // Eviction would silently drop history; a full Redis must fail writes instead.
    'maxmemory-policy noeviction',
    // Tests do many CLIENT KILLs and short connections; keep the server quiet.
    'loglevel warning',
  ];
  if (cluster) {
    lines.push('cluster-enabled yes', 'cluster-config-file nodes.conf', `cluster-port ${clusterPort}`);
    lines.push('cluster-node-timeout 2000');
  }
  for (const [key, value] of Object.entries(extra ?? {})) lines.push(`${key} ${value}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Start a redis-server. Options: `aof` (default false), `cluster` (cluster mode, needs
 * `clusterPort`), `port`/`dir` (default: free port, fresh temp dir), `config` (extra directives).
 */
export async function startRedis(options = {}) {
  const aof = options.aof === true;
  const [port, clusterPort] =
    options.port !== undefined ? [options.port, options.clusterPort] : await freePorts(2);
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'ees-redis-')));
  const ownsDir = options.dir === undefined;
  await writeFile(
    join(dir, 'redis.conf'),
    configText({ port, dir, aof, cluster: options.cluster === true, clusterPort, extra: options.config }),
  );
  let proc;
  let exited;

  async function launch() {
    proc = spawn('redis-server', [join(dir, 'redis.conf')], { cwd: dir, stdio: 'ignore' });
    exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    proc.once('error', () => {});
    try {
      await waitFor(
        async () => {
          if (proc.exitCode !== null || proc.signalCode !== null) {
            throw new Error(`redis-server exited (${proc.exitCode ?? proc.signalCode}): ${tailLog()}`);
          }
          // While loading an AOF the server answers -LOADING: not ready yet.
          return (await rawCommand(port, 'PING', 500)).startsWith('+PONG');
        },
        options.readyTimeoutMs ?? 10_000,
        `redis-server on port ${port}`,
      );
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
  }

  function tailLog() {
    const file = join(dir, 'redis.log');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-15).join('\n') : '(no log)';
  }

  function isRunning() {
    return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
  }

  async function signalAndWait(signal) {
    if (!isRunning()) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  const killOnExit = () => proc?.kill('SIGKILL');
  process.once('exit', killOnExit);
  await launch();

  return {
    port,
    clusterPort,
    dir,
    url: `redis://${HOST}:${port}`,
    get pid() {
      return proc?.pid;
    },
    get running() {
      return isRunning();
    },
    tailLog,
    /** Run redis-cli against this server; returns trimmed stdout. */
    cli(...args) {
      const r = spawnSync('redis-cli', ['-h', HOST, '-p', String(port), ...args], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    },
    /** SIGKILL by PID (no shutdown save, no AOF rewrite); keeps port and data dir. */
    async kill() {
      await signalAndWait('SIGKILL');
    },
    /** SIGTERM by PID and wait for exit; keeps port and data dir. */
    async pause() {
      await signalAndWait('SIGTERM');
    },
    /** Start again on the same port and data dir (after kill() or pause()). */
    async start() {
      if (isRunning()) return;
      await launch();
    },
    /** Stop by PID and delete the data dir (when the harness created it). */
    async stop() {
      process.removeListener('exit', killOnExit);
      await signalAndWait('SIGTERM');
      if (ownsDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Start `masters` cluster-mode servers and join them into one cluster (no replicas). */
export async function startRedisCluster(options = {}) {
  const masters = options.masters ?? 3;
  const ports = await freePorts(masters * 2);
  const nodes = [];
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(
        await startRedis({ ...options, cluster: true, port: ports[i * 2], clusterPort: ports[i * 2 + 1] }),
      );
    }
    const r = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `${HOST}:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    if (r.status !== 0) throw new Error(`redis-cli --cluster create failed: ${r.stdout}\n${r.stderr}`);
    await waitFor(
      async () => {
        for (const node of nodes) {
          if (!(await rawCommand(node.port, 'CLUSTER INFO')).includes('cluster_state:ok')) return false;
        }
        return true;
      },
      options.readyTimeoutMs ?? 15_000,
      'cluster_state:ok on every node',
    );
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: HOST, port: n.port })),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
