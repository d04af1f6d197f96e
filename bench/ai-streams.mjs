// Response streams (issue 22): what one AI answer costs and how fast the pieces are.
//   1. cost: memory and store bytes per 1,000 tokens, 200 finished streams of 1,000 tokens each,
//      on the memory engine (heap delta after GC; the stored records' bytes) and on Redis (heap
//      delta of the producing process; Redis' used_memory delta).
//   2. resume: a fresh reader of a finished 20,000-token answer, request to the last byte, through
//      streamHandler() over node:http, the reader a separate process (a load generator), with and
//      without compaction; p50/p99 of 30 reads, memory and Redis engines.
//   3. fan-in: one process appending tokens round-robin into 1,000 concurrent streams: tokens/s
//      stored (each append resolved), memory and Redis engines.
// Targets: resume ≤ 50 ms with compaction; ≥ 100,000 tokens/s appended per process.
// Every part runs in its own child process (a clean heap, --expose-gc); the figures are printed
// with the machine's load (uptime).
//
//   npm run build && node bench/ai-streams.mjs [--tokens 20000] [--streams 1000] [--seconds 5]
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const CORE = Symbol.for('express-eventstream.core');

const { values: o } = parseArgs({
  options: {
    role: { type: 'string' },
    url: { type: 'string' },
    port: { type: 'string' },
    compact: { type: 'boolean', default: false },
    tokens: { type: 'string', default: '20000' },
    streams: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '5' },
    reads: { type: 'string', default: '30' },
  },
});

const token = (i) => `w${i % 997} `;
const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
const emit = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

// Default history settings: a stream's channel is not bound by maxEventsPerChannel (1,000), so a
// 20,000-token answer is kept whole.
async function namespace(url, ns) {
  const { events } = await import('../dist/index.js');
  const engine = url === undefined ? {} : (await import('../dist/redis.js')).redis({ url, namespace: ns });
  const ev = events({ ...engine, keepAlive: false });
  ev.on('error', (e) => process.stderr.write(`error: ${e.message}\n`));
  return ev;
}

async function heap() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

/** Appends `count` tokens to `s` without waiting for each: resolves once all are stored. */
function appendAll(s, count) {
  const pending = [];
  for (let i = 0; i < count; i++) pending.push(s.append(token(i)));
  return Promise.all(pending);
}

async function cost() {
  const STREAMS = 200;
  const TOKENS = 1000;
  const ev = await namespace(o.url, `cost-${process.pid}`);
  await ev.publish('warm', { data: 'x' });
  const before = await heap();
  for (let n = 0; n < STREAMS; n++) {
    const s = ev.stream(`cost-${n}`);
    await appendAll(s, TOKENS);
    await s.end();
  }
  const after = await heap();
  let storedBytes;
  if (o.url === undefined) {
    const store = ev[CORE].settings.store;
    storedBytes = 0;
    for (let n = 0; n < STREAMS; n++) {
      const read = await store.readAfter([`~stream/cost-${n}`], 0, 10_000);
      for (const r of read.records) storedBytes += Buffer.byteLength(r.body) + 16;
    }
  }
  const tokenBytes = Array.from({ length: TOKENS }, (_, i) => token(i)).join('').length;
  emit({
    heapPerStream: (after - before) / STREAMS,
    storedPerStream: storedBytes === undefined ? undefined : storedBytes / STREAMS,
    tokenBytes,
  });
  await ev.close();
}

async function serveResume() {
  const { streamHandler } = await import('../dist/index.js');
  const ev = await namespace(o.url, `resume-${process.pid}`);
  const tokens = Number(o.tokens);
  const ids = [];
  for (const compact of [false, true]) {
    const id = `answer-${compact ? 'compact' : 'plain'}`;
    const s = ev.stream(id, compact ? { compact: true } : {});
    await appendAll(s, tokens);
    await s.end();
    ids.push(id);
  }
  const server = http.createServer(streamHandler({ events: ev }));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  emit({ port: server.address().port });
  // Stays up until the orchestrator ends it, at most 5 minutes.
  setTimeout(() => process.exit(0), 300_000).unref();
}

/** The reader process: times `reads` fresh GETs of a stream to the end of the body. */
async function readResume() {
  const times = [];
  const path = `/streams/answer-${o.compact ? 'compact' : 'plain'}`;
  let bytes = 0;
  for (let i = 0; i < Number(o.reads); i++) {
    const start = process.hrtime.bigint();
    bytes = await new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: Number(o.port), path, agent: false }, (res) => {
          let n = 0;
          res.on('data', (c) => {
            n += c.length;
          });
          res.on('end', () => resolve(n));
          res.on('error', reject);
        })
        .on('error', reject)
        .setTimeout(60_000, () => reject(new Error('a read took over 60 s')));
    });
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  emit({ p50: at(0.5), p99: at(0.99), max: times.at(-1), bytes });
}

async function fanIn() {
  const ev = await namespace(o.url, `fanin-${process.pid}`);
  const count = Number(o.streams);
  const streams = Array.from({ length: count }, (_, n) => ev.stream(`fan-${n}`));
  const deadline = Date.now() + Number(o.seconds) * 1000;
  let stored = 0;
  let issued = 0;
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  // Each round appends one token to every stream (a model emitting to 1,000 answers at once);
  // at most 4 rounds in flight, as a producer would be paced by its model.
  const inFlight = [];
  while (Date.now() < deadline) {
    const round = [];
    for (const s of streams) round.push(s.append(token(issued++)));
    inFlight.push(Promise.all(round).then(() => (stored += count)));
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  // The producer's own CPU share of the run: well under 1 means it waited (for the store).
  emit({
    tokensPerSecond: stored / seconds,
    tokens: stored,
    seconds,
    cpu: (cpu.user + cpu.system) / 1e6 / seconds,
  });
  await Promise.all(streams.map((s) => s.end()));
  await ev.close();
}

function child(args) {
  const proc = spawn(process.execPath, ['--expose-gc', SELF, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: proc.stdout });
  const queue = [];
  const waiters = [];
  lines.on('line', (line) => {
    const value = JSON.parse(line);
    const w = waiters.shift();
    if (w) w(value);
    else queue.push(value);
  });
  const exited = new Promise((r) => proc.on('exit', r));
  return {
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r))),
    exited,
    kill: () => proc.kill('SIGTERM'),
  };
}

async function redisUsed(url) {
  const port = new URL(url).port;
  const info = execFileSync('redis-cli', ['-p', port, 'info', 'memory'], { encoding: 'utf8' });
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}

async function orchestrate() {
  const { startRedis } = await import('../scripts/redis.mjs');
  const redis = await startRedis();
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  try {
    console.log(`# Response streams (issue 22) — ${new Date().toISOString()}`);
    console.log(`load before: ${uptime()}`);
    for (const [engine, url] of [
      ['memory', undefined],
      ['redis', redis.url],
    ]) {
      const urlArgs = url === undefined ? [] : ['--url', url];
      // 1. cost
      const usedBefore = url === undefined ? 0 : await redisUsed(url);
      const c = child(['--role', 'cost', ...urlArgs]);
      const cost = await c.next();
      await c.exited;
      const usedAfter = url === undefined ? 0 : await redisUsed(url);
      const store = url === undefined ? cost.storedPerStream : (usedAfter - usedBefore) / 200;
      console.log(
        `${engine} cost per 1,000 tokens (${cost.tokenBytes} B of text): heap ${kb(cost.heapPerStream)}, store ${kb(store)} (load ${uptime().split('load average: ')[1]})`,
      );
      // 2. resume
      const server = child(['--role', 'serve-resume', '--tokens', o.tokens, ...urlArgs]);
      const { port } = await server.next();
      for (const compact of [false, true]) {
        const r = child([
          '--role',
          'read-resume',
          '--port',
          String(port),
          '--reads',
          o.reads,
          ...(compact ? ['--compact'] : []),
        ]);
        const res = await r.next();
        await r.exited;
        console.log(
          `${engine} resume of a finished ${o.tokens}-token answer, ${compact ? 'compacted' : 'not compacted'}: p50 ${res.p50.toFixed(1)} ms, p99 ${res.p99.toFixed(1)} ms, ${kb(res.bytes)} (target ≤ 50 ms compacted; load ${uptime().split('load average: ')[1]})`,
        );
      }
      server.kill();
      await server.exited;
      // 3. fan-in
      const f = child(['--role', 'fan-in', '--streams', o.streams, '--seconds', o.seconds, ...urlArgs]);
      const fan = await f.next();
      await f.exited;
      console.log(
        `${engine} fan-in into ${o.streams} streams: ${Math.round(fan.tokensPerSecond).toLocaleString('en')} tokens/s stored (${fan.tokens} in ${fan.seconds.toFixed(1)} s, producer CPU ${(fan.cpu * 100).toFixed(0)} %; target ≥ 100,000; load ${uptime().split('load average: ')[1]})`,
      );
    }
    console.log(`load after: ${uptime()}`);
  } finally {
    await redis.stop();
  }
}

const roles = { cost, 'serve-resume': serveResume, 'read-resume': readResume, 'fan-in': fanIn };
if (o.role === undefined) await orchestrate();
else await roles[o.role]();
