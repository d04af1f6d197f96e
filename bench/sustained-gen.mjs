// Load generator of the sustained-rate benchmark (bench/sustained.mjs starts it):
//   node bench/sustained-gen.mjs --port P --ctl C --n N --rates 10,1000,5000,20000,max --step-ms 2000
//
// It is both the publisher and every SSE client, so send and receive times come from one clock.
// N raw SSE clients on channel `bench`; `--conns` persistent connections to the server's control
// port carry one `POST /publish-one?seq=S` each at a time, so every event reaches the server in
// its own request (its own I/O callback), as events from HTTP requests or a message bus do.
//
// The server numbers the events (`seq`) in the order it publishes them, which is not always the
// send order (the connections race); each event's data also carries its send number `t`. Events
// sent k-th and (server) seq k are not the same event, but after k sends the last seq is k.
// Per rate step (`max`: send whenever a connection is free):
//   - paced by a 1 ms timer with a credit bucket capped at --conns (an open-loop rate that does not
//     burst to catch up); when all connections are busy the event is not sent, so `sent/s` below
//     the rate means the server pushed back
//   - after --step-ms the sending stops and the step waits (bounded) until every client has every
//     sent event
//   - delivered events/s: deliveries that arrived within the sending window ÷ N ÷ window
//   - server CPU per delivery: server user/system CPU from the step start until the last client
//     has the last event ÷ (sent × N)
//   - latency: for every (client, event), arrival time − the time its publish request was written;
//     log histogram → p50/p99/max over all deliveries of the step
// Prints one JSON line; exits by itself (--max-seconds).

import { ClientPool, controlChannel, now, Publishers, sleep, waitSubscribers } from './lib/gen-common.mjs';
import { armWatchdog, generatorArgs, runGenerator } from './lib/gen-run.mjs';
import { Histogram } from './lib/hist.mjs';

const a = generatorArgs({
  n: { type: 'string', default: '1000' },
  rates: { type: 'string', default: '10,1000,5000,20000,max' },
  'step-ms': { type: 'string', default: '2000' },
  'drain-ms': { type: 'string', default: '30000' },
  conns: { type: 'string', default: '16' },
});

const N = Number(a.n);
const STEP_MS = Number(a['step-ms']);
const DRAIN_MS = Number(a['drain-ms']);
const M = Number(a.conns);
const result = /** @type {Record<string, any>} */ ({ n: N, conns: M, stepMs: STEP_MS, steps: [] });

armWatchdog(result, Number(a['max-seconds']));

const { ctl, close: closeCtl } = controlChannel(Number(a.ctl));
const sendAt = new Float64Array(4_000_000);

// per-step measurement state, updated from the clients' event callback
/** @type {Histogram | null} */
let hist = null;
let windowEnd = Number.POSITIVE_INFINITY;
let stepFirst = Number.POSITIVE_INFINITY;
let inWindow = 0;
let target = 0;
let reached = 0;
/** @type {(() => void) | null} */
let onAllReached = null;

const pool = new ClientPool(Number(a.port), (client, seq, sendNo) => {
  const t = pool.readAt;
  if (sendNo >= stepFirst && hist) {
    hist.add(t - sendAt[sendNo]);
    if (t <= windowEnd) inWindow++;
  }
  if (seq >= target && client.reachedFor !== target) {
    client.reachedFor = target;
    if (++reached === N && onAllReached) {
      const f = onAllReached;
      onAllReached = null;
      f();
    }
  }
});

/** Resolves true once every client has seq >= t, false after ms. */
function waitAll(t, ms) {
  target = t;
  reached = 0;
  for (const c of clients) {
    if (c.last >= t) {
      c.reachedFor = t;
      reached++;
    }
  }
  if (reached === N) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      onAllReached = null;
      resolve(false);
    }, ms);
    onAllReached = () => {
      clearTimeout(timer);
      resolve(true);
    };
  });
}

/** @type {import('./lib/sse-client.mjs').SseClient[]} */
let clients = [];
const pub = new Publishers(Number(a.ctl), M);
let seq = 0;

function sendNext() {
  const s = seq + 1;
  if (s >= sendAt.length) return false;
  sendAt[s] = now();
  if (!pub.send(`t=${s}`)) return false;
  seq = s;
  return true;
}

async function step(rateSpec) {
  const max = rateSpec === 'max';
  const rate = max ? Number.POSITIVE_INFINITY : Number(rateSpec);
  await ctl('POST', '/mark');
  hist = new Histogram();
  inWindow = 0;
  stepFirst = seq + 1;
  const first = seq + 1;
  const t0 = now();
  windowEnd = t0 + STEP_MS;
  const gen0 = process.cpuUsage();
  let credit = max ? 0 : 1;
  let last = t0;
  let stopped = false;
  const pump = () => {
    if (stopped) return;
    const t = now();
    if (t >= windowEnd) return;
    if (max) {
      while (sendNext()) {}
      return;
    }
    credit = Math.min(M, credit + ((t - last) * rate) / 1000);
    last = t;
    while (credit >= 1 && sendNext()) credit--;
  };
  pub.onIdle = pump;
  const timer = setInterval(pump, 1);
  pump();
  await sleep(STEP_MS);
  stopped = true;
  clearInterval(timer);
  pub.onIdle = null;
  const lastSeq = seq;
  const sent = lastSeq - first + 1;
  const drained = sent > 0 ? await waitAll(lastSeq, DRAIN_MS) : true;
  const t1 = now();
  const gen = process.cpuUsage(gen0);
  const cpu = await ctl('GET', '/cpu');
  const deliveries = sent * N;
  const s = {
    rate: rateSpec,
    sent,
    sentPerSec: sent / (STEP_MS / 1000),
    deliveredPerSec: inWindow / N / (STEP_MS / 1000),
    deliveriesPerSec: inWindow / (STEP_MS / 1000),
    drained,
    drainMs: t1 - (t0 + STEP_MS),
    serverUserUs: cpu.user,
    serverSystemUs: cpu.system,
    cpuUsPerDelivery: deliveries ? (cpu.user + cpu.system) / deliveries : Number.NaN,
    userUsPerDelivery: deliveries ? cpu.user / deliveries : Number.NaN,
    systemUsPerDelivery: deliveries ? cpu.system / deliveries : Number.NaN,
    latency: hist.summary(),
    genCpuShare: (gen.user + gen.system) / 1000 / (t1 - t0),
  };
  hist = null;
  stepFirst = Number.POSITIVE_INFINITY;
  return s;
}

async function main() {
  const t0 = now();
  const opened = await pool.openMany(N, Number(a.concurrency), () => ({
    path: '/events?channel=bench',
    init: (c) => {
      c.reachedFor = -1;
    },
  }));
  clients = opened.map((o) => o.client);
  result.connectMs = now() - t0;
  await waitSubscribers(ctl, N);
  await pub.open();
  // warm-up: 20 events one after another, each awaited on every client
  for (let i = 0; i < 20; i++) {
    if (!sendNext()) throw new Error('no idle publisher connection during warm-up');
    if (!(await waitAll(seq, 20_000))) throw new Error(`warm-up event ${seq} did not reach every client`);
  }
  for (const r of a.rates.split(',').map((x) => x.trim())) {
    await sleep(300);
    const s = await step(r);
    result.steps.push(s);
    process.stderr.write(
      `  rate ${r}: sent ${Math.round(s.sentPerSec)}/s delivered ${Math.round(s.deliveredPerSec)}/s cpu ${s.cpuUsPerDelivery.toFixed(3)}µs/del p50 ${s.latency.p50.toFixed(1)} p99 ${s.latency.p99.toFixed(1)} max ${s.latency.max.toFixed(1)} ms${s.drained ? '' : ' NOT DRAINED'}\n`,
    );
    if (!s.drained) break;
  }
  await sleep(100);
  let lost = 0;
  let reordered = 0;
  let protocolErrors = 0;
  let short = 0;
  for (const c of clients) {
    lost += c.lost;
    reordered += c.reordered;
    if (c.protocolError) protocolErrors++;
    if (c.last < seq) short++;
  }
  const st = await ctl('GET', '/stats?final=1');
  result.lastSeq = seq;
  result.serverCpuTotalUs = st.cpuTotalUs;
  result.verify = {
    lost,
    reordered,
    protocolErrors,
    clientsShort: short,
    closedEarly: pool.closedEarly,
    socketErrors: pool.errors,
    publishErrors: st.publishErrors,
    lastPublishError: st.lastError,
  };
  result.ok = true;
}

runGenerator(result, main, () => {
  pool.destroyAll();
  pub.close();
  closeCtl();
});
