// Runs a private, loopback-only Pushpin (Debian package `pushpin`, 1.36) for tests and demos:
// a generated config in a fresh temp dir, free ports, readiness probing, log watching, and
// stop by PID. Used by test/helpers/pushpin.ts and examples/basic/pushpin.mjs.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HOST = '127.0.0.1';

/** The kernel's ephemeral port range: ports the OS hands out for `listen(0)` and outgoing connections. */
function ephemeralRange() {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo, hi];
  } catch {
    // not Linux: assume the IANA range
  }
  return [49152, 65535];
}

function tryListen(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, HOST, () => resolve(server));
  });
}

/**
 * Distinct free TCP ports on 127.0.0.1 for Pushpin to bind later. They are picked at random
 * BELOW the ephemeral range: a port from `listen(0)` would be free now but could be handed to
 * another socket (an origin server, an outgoing connection) before Pushpin binds it, which
 * happens when test files run in parallel.
 */
export async function freePorts(count) {
  const [ephemeralLow] = ephemeralRange();
  const high = Math.min(ephemeralLow, 65536) - 1;
  const low = high > 12_000 ? 10_000 : 1024;
  const servers = [];
  try {
    for (let tries = 0; servers.length < count && tries < 500; tries++) {
      const port = low + Math.floor(Math.random() * (high - low + 1));
      if (servers.some((s) => s.address().port === port)) continue;
      const server = await tryListen(port);
      if (server !== undefined) servers.push(server);
    }
    if (servers.length < count) throw new Error(`could not find ${count} free ports in ${low}-${high}`);
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(() => resolve()))));
  }
}

/**
 * The pushpin.conf text. Debian's internal.conf points the proxy at a system zurl under
 * /var/run/zurl and its pushpin.conf leaves zurl out of `services`: without both fixes below every
 * proxied request hangs for 60 s, then fails with 502. rundir/logdir must be absolute (they
 * resolve against the working directory, not the config file).
 */
export function pushpinConfigText({ runDir, logDir, httpPort, publishPort, sigKey, sigIss }) {
  return `[global]
include={libdir}/internal.conf
rundir=${runDir}
ipc_prefix=pushpin-

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=${HOST}:${httpPort}
logdir=${logDir}

[proxy]
routesfile=routes
zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in
zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream
zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out
sig_iss=${sigIss}
sig_key=${sigKey}
debug=true
updates_check=off

[handler]
push_in_http_addr=${HOST}
push_in_http_port=${publishPort}
stats_spec=ipc://{rundir}/{ipc_prefix}stats
`;
}

/** One routes line sending every request to the given origin ports (several: tried in order, failover). */
export function routesText(originPorts, { aco = false } = {}) {
  const ports = Array.isArray(originPorts) ? originPorts : [originPorts];
  return `*${aco ? ',aco' : ''} ${ports.map((p) => `${HOST}:${p}`).join(' ')}\n`;
}

function probe(port, path, timeoutMs) {
  return new Promise((resolve) => {
    const req = request(
      { host: HOST, port, path, method: 'GET', timeout: timeoutMs, agent: false },
      (res) => {
        const status = res.statusCode ?? 0;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        // A held stream never ends: the status is all we need.
        req.destroy();
        res.destroy();
        resolve({ status, body });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A GET kept open: its status once headers arrive, and the body as it streams in. */
function openStream(port, path, hostHeader) {
  const stream = { status: 0, body: '', ended: false, close: () => req.destroy() };
  let onHead;
  const head = new Promise((resolve) => {
    onHead = resolve;
  });
  const req = request(
    {
      host: HOST,
      port,
      path,
      method: 'GET',
      agent: false,
      headers: { accept: 'text/event-stream', host: hostHeader },
    },
    (res) => {
      stream.status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (c) => {
        stream.body += c;
      });
      const end = () => {
        stream.ended = true;
      };
      res.on('end', end);
      res.on('error', end);
      res.on('close', end);
      onHead();
    },
  );
  req.on('error', () => {
    stream.ended = true;
    onHead();
  });
  req.end();
  stream.head = head;
  return stream;
}

function publishCanary(port, channel, content) {
  return new Promise((resolve) => {
    const body = JSON.stringify({ items: [{ channel, formats: { 'http-stream': { content } } }] });
    const req = request(
      {
        host: HOST,
        port,
        path: '/publish/',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        timeout: 1000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end(body);
  });
}

/** Virtual host routed to the harness's own readiness origin, never to the application. */
const READY_HOST = 'pushpin-ready.invalid';

/** A tiny origin that holds every request as a GRIP stream on `channel` (for the canary check). */
async function startReadinessOrigin(channel) {
  const server = createHttpServer((_req, res) => {
    const body = ':\n\n';
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Content-Length': String(body.length),
      'Grip-Hold': 'stream',
      'Grip-Channel': channel,
    });
    res.end(body);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  return server;
}

/**
 * Starts Pushpin and resolves once it serves end to end. A fresh Pushpin can accept connections
 * before the proxy can serve them, and even then the handler's route back to condure may not be
 * up, so a stream held at that moment never gets published items (condure logs "Host
 * unreachable"). Readiness is therefore: the publish API answers; a request to the harness's own
 * readiness origin (virtual host `pushpin-ready.invalid`, routed ahead of the app) is held, and a
 * comment published to its channel arrives; and, when `readyPath` is given, a GET through the
 * proxy to the app returns a status below 500. Every probe has a short timeout and is retried.
 *
 * Options: originPorts (number | number[]), routes (routes file text, overrides originPorts),
 * aco, sigKey ('changeme'), sigIss ('pushpin'), httpPort/publishPort (default: free ports),
 * readyPath (optional), readyTimeoutMs (20000).
 */
export async function startPushpin(options) {
  const sigKey = options.sigKey ?? 'changeme';
  const sigIss = options.sigIss ?? 'pushpin';
  const routes = options.routes ?? routesText(options.originPorts, { aco: options.aco === true });
  let [httpPort, publishPort] = [options.httpPort, options.publishPort];
  if (httpPort === undefined || publishPort === undefined) {
    const [a, b] = await freePorts(2);
    httpPort ??= a;
    publishPort ??= b;
  }
  const dir = await mkdtemp(join(tmpdir(), 'ee-pushpin-'));
  const configPath = join(dir, 'pushpin.conf');
  const readyChannel = `pushpin-ready-${Math.random().toString(36).slice(2)}`;

  let child;
  let generation = 0;
  let logDir = '';
  let exited;

  async function launch() {
    generation += 1;
    // A fresh rundir/logdir per launch: leftover ipc files from the last run are never reused.
    const runDir = join(dir, `run-${generation}`);
    logDir = join(dir, `log-${generation}`);
    await mkdir(runDir, { recursive: true });
    await mkdir(logDir, { recursive: true });
    const readiness = await startReadinessOrigin(readyChannel);
    try {
      await writeFile(join(dir, 'routes'), `${READY_HOST} ${HOST}:${readiness.address().port}\n${routes}`);
      await writeFile(
        configPath,
        pushpinConfigText({ runDir, logDir, httpPort, publishPort, sigKey, sigIss }),
      );
      const out = openSync(join(logDir, 'runner.out'), 'a');
      try {
        child = spawn('pushpin', ['--config', configPath], { cwd: dir, stdio: ['ignore', out, out] });
      } finally {
        closeSync(out);
      }
      const proc = child;
      exited = new Promise((resolve) => {
        proc.once('exit', (code, signal) => resolve({ code, signal }));
        proc.once('error', (err) => resolve({ code: null, signal: null, error: err }));
      });
      const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
      let publishOk = false;
      let canaryOk = false;
      for (let i = 0; Date.now() < deadline; i++) {
        if (proc.exitCode !== null || proc.signalCode !== null) break;
        if (!publishOk) publishOk = (await probe(publishPort, '/', 300)).status === 200;
        if (publishOk && !canaryOk) canaryOk = await canaryCheck(deadline);
        if (publishOk && canaryOk) {
          if (options.readyPath === undefined) return;
          const { status } = await probe(httpPort, options.readyPath, 300);
          if (status > 0 && status < 500) return;
        }
        await pause(Math.min(25 * (i + 1), 150));
      }
      const status = proc.exitCode !== null ? `exited with code ${proc.exitCode}` : 'not ready in time';
      await stopProcess();
      throw new Error(`pushpin ${status} (http ${httpPort}, publish ${publishPort}); logs:\n${tailLogs()}`);
    } finally {
      readiness.closeAllConnections();
      readiness.close();
    }
  }

  /** Holds a stream through the proxy on the readiness channel; true once a published comment arrives. */
  async function canaryCheck(deadline) {
    const subscribed = new RegExp(`subscribe \\S+ channel=${readyChannel}$`, 'gm');
    const count = () => readLog('pushpin-handler.log').match(subscribed)?.length ?? 0;
    const before = count();
    const stream = openStream(httpPort, '/', READY_HOST);
    try {
      await Promise.race([stream.head, pause(1000)]);
      if (stream.status !== 200) return false;
      for (let i = 0; count() <= before && i < 50 && !stream.ended; i++) await pause(20);
      if (count() <= before) return false;
      const nonce = Math.random().toString(36).slice(2);
      for (let round = 0; round < 10 && Date.now() < deadline && !stream.ended; round++) {
        await publishCanary(publishPort, readyChannel, `: ${nonce}\n\n`);
        for (let i = 0; i < 10 && !stream.ended; i++) {
          if (stream.body.includes(nonce)) return true;
          await pause(20);
        }
      }
      return false;
    } finally {
      stream.close();
    }
  }

  async function stopProcess() {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  function readLog(name) {
    const file = join(logDir, name);
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  function tailLogs() {
    return ['runner.out', 'pushpin-proxy.log', 'pushpin-handler.log', 'condure.log', 'zurl.log']
      .map((n) => `--- ${n}\n${readLog(n).split('\n').slice(-40).join('\n')}`)
      .join('\n');
  }

  /** Resolves once `pattern` has matched at least `count` lines of a log file (default: the handler's). */
  async function waitForLog(pattern, { count = 1, timeoutMs = 10_000, file = 'pushpin-handler.log' } = {}) {
    const deadline = Date.now() + timeoutMs;
    const global = new RegExp(
      pattern.source,
      pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`,
    );
    for (;;) {
      const n = readLog(file).match(global)?.length ?? 0;
      if (n >= count) return n;
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${count}× ${pattern} in ${file} (saw ${n}); logs:\n${tailLogs()}`,
        );
      }
      await pause(20);
    }
  }

  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  await launch().catch(async (err) => {
    process.removeListener('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
    throw err;
  });

  let stopped = false;
  return {
    httpPort,
    publishPort,
    dir,
    /** GRIP_URL for this instance; its `key` is also the Grip-Sig verify key for this library. */
    gripUrl: `http://${HOST}:${publishPort}?key=${encodeURIComponent(sigKey)}`,
    baseUrl: `http://${HOST}:${httpPort}`,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    readLog,
    tailLogs,
    waitForLog,
    /**
     * Resolves once the handler has logged at least `count` subscriptions to `channel` (the full,
     * prefixed GRIP channel name). A client's first bytes can arrive before its subscription is
     * active, so tests wait for this before publishing.
     */
    waitForSubscription(channel, count = 1, timeoutMs = 10_000) {
      const escaped = channel.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      return waitForLog(new RegExp(`subscribe \\S+ channel=${escaped}$`, 'm'), { count, timeoutMs });
    },
    /** Stops the process (SIGTERM, by PID) but keeps the directory and ports for `start()`. */
    pause: stopProcess,
    /** Starts again on the same ports after `pause()`. */
    async start() {
      if (stopped) throw new Error('this Pushpin was stopped for good');
      await stopProcess();
      await launch();
    },
    /** SIGTERM, wait for exit, delete the directory. */
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopProcess();
      process.removeListener('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
