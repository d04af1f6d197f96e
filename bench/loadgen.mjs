// Load generator: `node bench/loadgen.mjs --port P --ctl C --n N --burst K --repeats R`.
//
// Opens N raw TCP clients (node:net) to 127.0.0.1:P, each sending
// `GET /events?channel=bench HTTP/1.1`, and parses every SSE stream (sse-client.mjs).
// All publishing is triggered from here over the server's control port, so every
// timestamp comes from this process's clock. Phases:
//   1. server memory (after GC) with no clients
//   2. connect N clients (bounded concurrency); time until all have a 200 response head
//   3. wait until the server reports N subscribers, settle; server memory again
//   4. warm-up: a few single events, each awaited on all clients
//   5. single-event fan-out latency: R times publish one event, time until the LAST client has it
//   6. burst: publish K events at once; time until every client has all K; server CPU over the burst
//   7. check every client got every event in order; print one JSON line and exit
// Every wait is bounded; the process exits by itself (--max-seconds).

import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { SseClient } from './lib/sse-client.mjs';

const { values: a } = parseArgs({
  options: {
    port: { type: 'string' },
    ctl: { type: 'string' },
    n: { type: 'string', default: '1000' },
    burst: { type: 'string', default: '100' },
    repeats: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '200' },
    path: { type: 'string', default: '/events?channel=bench' },
    'max-seconds': { type: 'string', default: '240' },
    'phase-timeout': { type: 'string', default: '60' },
    // --mode grip: clients connect through Pushpin; waits for "GO" on stdin after connecting,
    // then measures latency and the highest sustained publish rate (see mainGrip)
    mode: { type: 'string', default: 'direct' },
    'rate-ms': { type: 'string', default: '3000' },
    'max-lag': { type: 'string', default: '500' },
    rates: {
      type: 'string',
      default: '50,100,175,250,500,1000,1500,2000,3000,4000,6000,8000,12000,16000,24000,32000',
    },
  },
});

const PORT = Number(a.port);
const CTL = Number(a.ctl);
const N = Number(a.n);
const K = Number(a.burst);
const R = Number(a.repeats);
const WARMUP = Number(a.warmup);
const CONCURRENCY = Number(a.concurrency);
const PHASE_TIMEOUT_MS = Number(a['phase-timeout']) * 1000;

const hardStop = setTimeout(() => {
  process.stdout.write(
    `${JSON.stringify({ ok: false, error: 'load generator exceeded --max-seconds', result })}\n`,
  );
  process.exit(4);
}, Number(a['max-seconds']) * 1000);
hardStop.unref();

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Partial results, reported even when a phase fails. */
const result = /** @type {Record<string, unknown>} */ ({ n: N, burst: K, repeats: R });

// ---------- control channel ----------
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function ctl(method, path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: CTL, method, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new Error(`ctl ${path}: ${res.statusCode} ${body.slice(0, 200)}`));
        }
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`ctl ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

// ---------- clients ----------
/** @type {SseClient[]} */
const clients = [];
/** @type {net.Socket[]} */
const sockets = [];
let target = 0; // seq every client must reach
let reached = 0; // clients whose last seq >= target
/** @type {(() => void) | null} */
let onAllReached = null;
let closedEarly = 0;
let socketErrors = 0;
let lastSocketError = '';

function onEvent(client, seq) {
  if (seq >= target && client.reachedFor !== target) {
    client.reachedFor = target;
    if (++reached === N && onAllReached) {
      const f = onAllReached;
      onAllReached = null;
      f();
    }
  }
}

const request = Buffer.from(
  `GET ${a.path} HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n`,
);

/** Opens one client; resolves when its response head is complete (or rejects). */
function openClient() {
  return new Promise((resolve, reject) => {
    const client = new SseClient(onEvent);
    client.reachedFor = -1;
    const socket = net.connect({ host: '127.0.0.1', port: PORT });
    socket.setNoDelay(true);
    let settled = false;
    const done = (err) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(client);
    };
    socket.on('connect', () => socket.write(request));
    socket.on('data', (buf) => {
      client.push(buf);
      if (!settled && client.headComplete) {
        if (client.status === 200) done();
        else done(new Error(`status ${client.status} ${client.protocolError}`));
      }
    });
    socket.on('error', (err) => {
      socketErrors++;
      lastSocketError = err.message;
      done(err);
    });
    socket.on('close', () => {
      client.end();
      if (!stopping) closedEarly++;
      done(new Error('closed before response head'));
    });
    clients.push(client);
    sockets.push(socket);
  });
}

let stopping = false;

async function connectAll() {
  const t0 = now();
  let next = 0;
  let failed = 0;
  let firstError = '';
  const worker = async () => {
    while (next < N) {
      next++;
      try {
        await openClient();
      } catch (err) {
        failed++;
        if (!firstError) firstError = String(err?.message ?? err);
      }
    }
  };
  const workers = [];
  for (let i = 0; i < Math.min(CONCURRENCY, N); i++) workers.push(worker());
  await withTimeout(Promise.all(workers), PHASE_TIMEOUT_MS, 'connect');
  const ms = now() - t0;
  if (failed > 0) throw new Error(`${failed} of ${N} connections failed: ${firstError}`);
  return ms;
}

function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]);
}

/** Publishes seq from..from+count-1 and resolves with ms until every client has the last one. */
async function publishAndWait(from, count, { cpu = false, timeoutMs = PHASE_TIMEOUT_MS } = {}) {
  target = from + count - 1;
  reached = 0;
  for (const c of clients) {
    if (c.last >= target) {
      c.reachedFor = target;
      reached++;
    }
  }
  let resolveAll;
  const all = new Promise((r) => {
    resolveAll = r;
  });
  onAllReached = () => resolveAll(now());
  const t0 = now();
  const cpu0 = process.cpuUsage();
  const posted = ctl('POST', `/publish?from=${from}&count=${count}${cpu ? '&cpu=1' : ''}`);
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const timeout = new Promise((r) => {
    timer = setTimeout(() => r(-1), timeoutMs);
  });
  const t1 = await Promise.race([all, timeout]);
  clearTimeout(timer);
  onAllReached = null;
  await posted;
  const genCpu = process.cpuUsage(cpu0);
  if (t1 < 0) {
    return { ms: -1, missing: N - reached, genCpuUs: genCpu.user + genCpu.system };
  }
  return { ms: t1 - t0, missing: 0, genCpuUs: genCpu.user + genCpu.system };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

function verification(expectedLast) {
  let lost = 0;
  let reordered = 0;
  let short = 0;
  let protocolErrors = 0;
  let firstProtocolError = '';
  for (const c of clients) {
    lost += c.lost;
    reordered += c.reordered;
    if (c.last < expectedLast) {
      short++;
      lost += expectedLast - c.last;
    }
    if (c.protocolError) {
      protocolErrors++;
      if (!firstProtocolError) firstProtocolError = c.protocolError;
    }
  }
  return {
    lost,
    reordered,
    clientsShort: short,
    protocolErrors,
    firstProtocolError,
    closedEarly,
    socketErrors,
    lastSocketError,
  };
}

async function main() {
  result.mem0 = await ctl('GET', '/mem');

  result.connectMs = await connectAll();

  // wait until the server has registered every client
  const tReg = now();
  let subs = 0;
  for (;;) {
    const st = /** @type {{ subscribers: number }} */ (await ctl('GET', '/stats'));
    subs = st.subscribers;
    if (subs >= N) break;
    if (now() - tReg > 15_000) throw new Error(`server reports ${subs} of ${N} subscribers after 15 s`);
    await sleep(50);
  }
  await sleep(Math.min(1000, 100 + N / 20));
  result.mem1 = await ctl('GET', '/mem');

  let seq = 1;
  // warm-up
  for (let i = 0; i < WARMUP; i++) {
    const r = await publishAndWait(seq, 1);
    seq += 1;
    if (r.ms < 0) throw new Error(`warm-up event ${seq - 1}: ${r.missing} clients never received it`);
    await sleep(5);
  }

  // single-event fan-out latency (+ the server's CPU for each single-event fan-out)
  const lat = [];
  const latCpu = [];
  for (let i = 0; i < R; i++) {
    const r = await publishAndWait(seq, 1, { cpu: true });
    seq += 1;
    if (r.ms < 0) {
      result.latencyMissing = r.missing;
      break;
    }
    const c = /** @type {{ user: number, system: number }} */ (await ctl('GET', '/cpu'));
    lat.push(r.ms);
    latCpu.push({ user: c.user, system: c.system });
    await sleep(20);
  }
  const sorted = [...lat].sort((x, y) => x - y);
  const med = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1] ?? Number.NaN;
  result.latency = {
    samples: lat,
    median: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    serverCpuUserUs: med(latCpu.map((c) => c.user)),
    serverCpuSystemUs: med(latCpu.map((c) => c.system)),
  };

  // burst
  await sleep(50);
  const b = await publishAndWait(seq, K, { cpu: true, timeoutMs: PHASE_TIMEOUT_MS });
  seq += K;
  const cpu = /** @type {{ user: number, system: number, wallUs: number }} */ (await ctl('GET', '/cpu'));
  const deliveries = N * K;
  result.burst = {
    ms: b.ms,
    missing: b.missing,
    deliveries,
    deliveriesPerSec: b.ms > 0 ? deliveries / (b.ms / 1000) : 0,
    serverCpuUs: cpu.user + cpu.system,
    serverCpuUserUs: cpu.user,
    serverCpuSystemUs: cpu.system,
    cpuMsPer1000: ((cpu.user + cpu.system) / 1000 / deliveries) * 1000,
    genCpuUs: b.genCpuUs,
    genCpuShare: b.ms > 0 ? b.genCpuUs / 1000 / b.ms : 0,
  };

  // settle so anything late (duplicates) still arrives before checking
  await sleep(100);
  const st = /** @type {{ publishErrors: number, lastError: string, cpuTotalUs: number }} */ (
    await ctl('GET', '/stats?final=1')
  );
  result.serverCpuTotalUs = st.cpuTotalUs;
  result.verify = {
    ...verification(seq - 1),
    publishErrors: st.publishErrors,
    lastPublishError: st.lastError,
  };
  result.lastSeq = seq - 1;
  result.ok = true;
}

function waitForGo(ms) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('no GO from the orchestrator')), ms);
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d) => {
      buf += d;
      if (buf.includes('GO')) {
        clearTimeout(timer);
        process.stdin.pause();
        resolve(undefined);
      }
    });
  });
}

function lossSoFar() {
  let lost = 0;
  let reordered = 0;
  for (const c of clients) {
    lost += c.lost;
    reordered += c.reordered;
  }
  return { lost, reordered };
}

/** Publishes `count` events paced over `ms` from the server; resolves with the lag after the last one. */
async function rateStep(from, rate, ms, maxLag) {
  const count = Math.max(1, Math.round((rate * ms) / 1000));
  target = from + count - 1;
  reached = 0;
  let resolveAll;
  const all = new Promise((r) => {
    resolveAll = r;
  });
  onAllReached = () => resolveAll(now());
  const before = lossSoFar();
  const t0 = now();
  await ctl('POST', `/publish-rate?from=${from}&rate=${rate}&ms=${ms}`);
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const timeout = new Promise((r) => {
    timer = setTimeout(() => r(-1), ms + Math.max(3000, 4 * maxLag));
  });
  const t1 = await Promise.race([all, timeout]);
  clearTimeout(timer);
  onAllReached = null;
  const after = lossSoFar();
  const lag = t1 < 0 ? Number.POSITIVE_INFINITY : t1 - (t0 + ms);
  const lost = after.lost - before.lost;
  const reordered = after.reordered - before.reordered;
  const missing = t1 < 0 ? N - reached : 0;
  const ok = lost === 0 && reordered === 0 && missing === 0 && lag <= maxLag;
  return { rate, count, lagMs: Number.isFinite(lag) ? lag : null, lost, reordered, missing, ok };
}

async function mainGrip() {
  result.connectMs = await connectAll();
  process.stdout.write('CONNECTED\n');
  await waitForGo(30_000);
  let seq = 1;
  for (let i = 0; i < WARMUP; i++) {
    const r = await publishAndWait(seq, 1, { timeoutMs: 5000 });
    seq += 1;
    if (r.ms < 0) throw new Error(`warm-up event ${seq - 1}: ${r.missing} clients never received it`);
    await sleep(20);
  }
  const lat = [];
  for (let i = 0; i < R; i++) {
    const r = await publishAndWait(seq, 1, { timeoutMs: 5000 });
    seq += 1;
    if (r.ms < 0) {
      result.latencyMissing = r.missing;
      break;
    }
    lat.push(r.ms);
    await sleep(30);
  }
  const sorted = [...lat].sort((x, y) => x - y);
  result.latency = { samples: lat, median: percentile(sorted, 50), p99: percentile(sorted, 99) };

  const ms = Number(a['rate-ms']);
  const maxLag = Number(a['max-lag']);
  const steps = [];
  for (const rate of a.rates.split(',').map(Number)) {
    await sleep(300);
    const step = await rateStep(seq, rate, ms, maxLag);
    seq += step.count;
    steps.push(step);
    if (!step.ok) break;
  }
  result.rateSteps = steps;
  result.maxSustainedRate = steps.filter((s) => s.ok).reduce((m, s) => Math.max(m, s.rate), 0);
  await sleep(200);
  /** @type {{ publishErrors: number, lastError: string }} */
  let st = { publishErrors: 0, lastError: '' };
  try {
    st = /** @type {typeof st} */ (await ctl('GET', '/stats'));
  } catch (err) {
    result.originGone = String(err?.message ?? err); // e.g. the origin process crashed during the last step
  }
  result.verify = { ...verification(0), publishErrors: st.publishErrors, lastPublishError: st.lastError };
  result.lastSeq = seq - 1;
  result.ok = true;
}

(a.mode === 'grip' ? mainGrip() : main())
  .catch((err) => {
    result.ok = false;
    result.error = String(err?.message ?? err);
    try {
      result.verify = verification(0);
    } catch {}
  })
  .finally(() => {
    stopping = true;
    const own = process.cpuUsage();
    result.genCpuTotalUs = own.user + own.system;
    process.stdout.write(`${JSON.stringify(result)}\n`);
    for (const s of sockets) s.destroy();
    agent.destroy();
    setTimeout(() => process.exit(0), 50).unref();
  });
