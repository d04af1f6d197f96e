// Stop latency of response streams across processes (issue 22, target: p99 ≤ 500 ms): the time
// from a stop request sent to process A (`POST /streams/:id/stop`, answered by `streamHandler()`)
// to the AbortSignal firing in the producer on process B, over a private redis-server shared by
// both (the `redis()` engine: control channel and state).
//
//   npm run build && node bench/stream-stop.mjs [--stops 300] [--concurrency 1]
//
// A and B are test/redis/fixtures/stream-node.mjs (the built package, as an application runs it).
// B starts every generation first and holds it mid-answer; then this process sends the stops to A,
// `concurrency` at a time. t0 is process.hrtime.bigint() here just before each request; B records
// process.hrtime.bigint() in the signal's abort listener. On Linux both read CLOCK_MONOTONIC, one
// clock for every process of the machine, so their difference is the latency. Prints the
// percentiles and the machine load (`uptime`) before and after.
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startRedis } from '../scripts/redis.mjs';

const { values: o } = parseArgs({
  options: {
    stops: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '1' },
  },
});
const STOPS = Number(o.stops);
const CONCURRENCY = Number(o.concurrency);
const FIXTURE = fileURLToPath(new URL('../test/redis/fixtures/stream-node.mjs', import.meta.url));
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function startNode(name, env) {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening (\d+)/.exec(out);
      if (m !== null) resolve({ name, child, base: `http://127.0.0.1:${m[1]}` });
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

async function until(check, what, ms) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

const loadBefore = load();
const redis = await startRedis();
const env = { REDIS_URL: redis.url, NS: 'stop-bench' };
const [a, b] = await Promise.all([startNode('A', env), startNode('B', env)]);
const stopAll = async () => {
  for (const n of [a, b]) n.child.kill('SIGTERM');
  await redis.stop();
};
try {
  const ids = Array.from({ length: STOPS }, (_, i) => `stop-${i}`);
  // One chunk each, then held at the gate (never opened): the stream is open with its heartbeat.
  await fetch(`${b.base}/produce`, {
    method: 'POST',
    body: JSON.stringify({ streams: ids.map((id) => ({ id, chunks: 2, pauseAt: 1 })) }),
  });
  const produced = async () => (await fetch(`${b.base}/produced`)).json();
  await until(
    async () => Object.values(await produced()).filter((r) => r.state === 'paused').length === STOPS,
    'every generation held mid-answer',
    60_000,
  );
  const sentAt = new Map();
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++];
      sentAt.set(id, process.hrtime.bigint());
      const res = await fetch(`${a.base}/streams/${id}/stop`, { method: 'POST' });
      await res.text();
      if (res.status !== 202) throw new Error(`stop ${id}: ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  let final;
  await until(
    async () => {
      final = await produced();
      return Object.values(final).every((r) => r.abortedAt !== undefined);
    },
    'every signal aborted',
    60_000,
  );
  const ms = ids
    .map((id) => Number(BigInt(final[id].abortedAt) - sentAt.get(id)) / 1e6)
    .sort((x, y) => x - y);
  const wrongReason = ids.filter((id) => final[id].reason?.name !== 'AbortError').length;
  const fmt = (v) => v.toFixed(1);
  console.log(
    `stop → AbortSignal across processes (Redis engine), ${STOPS} stops, ${CONCURRENCY} in flight: ` +
      `p50 ${fmt(pct(ms, 50))} ms, p90 ${fmt(pct(ms, 90))} ms, p99 ${fmt(pct(ms, 99))} ms, max ${fmt(ms.at(-1))} ms ` +
      `(target p99 ≤ 500 ms: ${pct(ms, 99) <= 500 ? 'met' : 'MISSED'}); reasons not named AbortError: ${wrongReason}`,
  );
  console.log(`load average before ${loadBefore}, after ${load()}; Node ${process.version}`);
} finally {
  await stopAll();
}
