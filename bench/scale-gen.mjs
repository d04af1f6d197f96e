// Load generator of the connection-scale benchmark (bench/scale.mjs starts it):
//   node bench/scale-gen.mjs --port P --ctl C --n 19000 [--keepalive-ms 1000 --idle-ms 10000]
//                            [--snapshot-prefix /path/prefix]
//
// 1. server memory after forced GCs (and, with --snapshot-prefix, a heap snapshot `<prefix>-0`)
// 2. N raw SSE clients (at most --concurrency connects in flight); accept time = first connect
//    until every client has its response head, and the server's CPU until all are subscribed
// 3. server memory again once all N are registered and idle (and snapshot `<prefix>-1`)
// 4. one-event fan-out latency: --repeats times, publish one event, time until the LAST client
//    has parsed it; the server's CPU per fan-out
// 5. keep-alive cost: with the server's keep-alive interval --keepalive-ms, --idle-ms of silence;
//    the server's CPU over that window, and how many keep-alive bytes the clients received
// Prints one JSON line; exits by itself.

import { ClientPool, controlChannel, now, sleep, waitSubscribers } from './lib/gen-common.mjs';
import { armWatchdog, generatorArgs, runGenerator } from './lib/gen-run.mjs';

const a = generatorArgs({
  n: { type: 'string', default: '19000' },
  repeats: { type: 'string', default: '7' },
  'keepalive-ms': { type: 'string', default: '0' },
  'idle-ms': { type: 'string', default: '10000' },
  'snapshot-prefix': { type: 'string' },
  // clients connected before the "before" measurement (they stay): takes one-time costs (JIT
  // code, hidden classes) out of the per-connection figures of small runs
  warm: { type: 'string', default: '0' },
});

const N = Number(a.n);
const W = Number(a.warm);
const KA = Number(a['keepalive-ms']);
const IDLE = Number(a['idle-ms']);
const result = /** @type {Record<string, any>} */ ({ n: N, keepAliveMs: KA, idleMs: IDLE });
armWatchdog(result, Number(a['max-seconds']));

const { ctl, close: closeCtl } = controlChannel(Number(a.ctl));

let target = 0;
let reached = 0;
/** @type {(() => void) | null} */
let onAll = null;
const pool = new ClientPool(Number(a.port), (client, seq) => {
  if (seq >= target && client.reachedFor !== target) {
    client.reachedFor = target;
    if (++reached === N + W && onAll) onAll();
  }
});
/** @type {import('./lib/sse-client.mjs').SseClient[]} */
let clients = [];

async function fanOut(seq) {
  target = seq;
  reached = 0;
  const all = new Promise((resolve) => {
    onAll = () => {
      onAll = null;
      resolve(now());
    };
  });
  const t0 = now();
  const posted = ctl('POST', `/publish?from=${seq}&count=1&cpu=1`);
  const t1 = await Promise.race([all, sleep(60_000).then(() => -1)]);
  await posted;
  const cpu = await ctl('GET', '/cpu');
  if (t1 < 0) throw new Error(`event ${seq}: ${N + W - reached} clients never received it`);
  return { ms: t1 - t0, user: cpu.user, system: cpu.system };
}

async function main() {
  const prefix = a['snapshot-prefix'];
  const spec = () => ({
    path: '/events?channel=bench',
    init: (c) => {
      c.reachedFor = -1;
    },
  });
  const warm = W > 0 ? await pool.openMany(W, Number(a.concurrency), spec) : [];
  if (W > 0) {
    await waitSubscribers(ctl, W);
    await sleep(200);
  }
  result.mem0 = await ctl('GET', '/mem');
  if (prefix)
    result.snapshot0 = await ctl(
      'POST',
      `/heap-snapshot?file=${encodeURIComponent(`${prefix}-0.heapsnapshot`)}`,
    );
  await ctl('POST', '/mark');
  const t0 = now();
  const opened = await pool.openMany(N, Number(a.concurrency), spec);
  clients = [...warm, ...opened].map((o) => o.client);
  result.acceptMs = now() - t0;
  await waitSubscribers(ctl, N + W, 60_000);
  // the server's CPU for accepting and subscribing the N (unlike the wall time, barely moved by
  // other load on the machine)
  result.acceptCpu = await ctl('GET', '/cpu');
  await sleep(Math.min(2000, 200 + N / 20));
  result.mem1 = await ctl('GET', '/mem');
  if (prefix)
    result.snapshot1 = await ctl(
      'POST',
      `/heap-snapshot?file=${encodeURIComponent(`${prefix}-1.heapsnapshot`)}`,
      120_000,
    );
  // warm-up, then the fan-outs
  let seq = 1;
  for (let i = 0; i < 2; i++) await fanOut(seq++);
  const fan = [];
  for (let i = 0; i < Number(a.repeats); i++) {
    fan.push(await fanOut(seq++));
    await sleep(50);
  }
  const sorted = [...fan].sort((x, y) => x.ms - y.ms);
  const mid = sorted[sorted.length >> 1];
  result.fanOut = {
    samples: fan.map((f) => f.ms),
    median: mid?.ms,
    max: sorted[sorted.length - 1]?.ms,
    serverUserUs: [...fan].sort((x, y) => x.user - y.user)[fan.length >> 1]?.user,
    serverSystemUs: [...fan].sort((x, y) => x.system - y.system)[fan.length >> 1]?.system,
  };
  // keep-alive window: everyone idle
  if (KA > 0 && IDLE > 0) {
    await sleep(Math.max(1500, KA * 1.5)); // let the first keep-alive round after the events pass
    const bytes0 = clients.reduce((s, c) => s + c.bodyBytes, 0);
    await ctl('POST', '/mark');
    const g0 = process.cpuUsage();
    await sleep(IDLE);
    const cpu = await ctl('GET', '/cpu');
    const g = process.cpuUsage(g0);
    const bytes = clients.reduce((s, c) => s + c.bodyBytes, 0) - bytes0;
    result.idle = {
      wallUs: cpu.wallUs,
      serverUserUs: cpu.user,
      serverSystemUs: cpu.system,
      keepAliveBytes: bytes,
      keepAlives: bytes / 3, // every subject sends `:\n\n`
      genCpuUs: g.user + g.system,
    };
  }
  const st = await ctl('GET', '/stats?final=1');
  let lost = 0;
  let reordered = 0;
  let protocolErrors = 0;
  for (const c of clients) {
    lost += c.lost;
    reordered += c.reordered;
    if (c.protocolError) protocolErrors++;
  }
  result.serverCpuTotalUs = st.cpuTotalUs;
  result.verify = {
    lost,
    reordered,
    protocolErrors,
    closedEarly: pool.closedEarly,
    socketErrors: pool.errors,
    lastSocketError: pool.lastError,
    publishErrors: st.publishErrors,
  };
  result.ok = true;
}

runGenerator(result, main, () => {
  pool.destroyAll();
  closeCtl();
});
