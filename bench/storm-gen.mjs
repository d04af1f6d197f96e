// Load generator of the reconnect-storm benchmark (bench/storm.mjs starts it):
//   node bench/storm-gen.mjs --port P --ctl C --n 10000 --missed 100 --spread-ms 1000
//
// 1. N raw SSE clients, each on 3 of 10 channels (client i: c[i%10], c[(i+1)%10], c[(i+2)%10]),
//    keeping the SSE last event id. Event seq s is published on channel c[s%10], one request per
//    event over one persistent control connection (so publish order = seq order).
// 2. Warm-up events, awaited on every client.
// 3. The cut: every client's socket is destroyed at once; the server must report 0 subscribers.
// 4. --missed events are published while nobody listens.
// 5. The storm: every client reconnects at a uniformly random moment within --spread-ms, sending
//    `Last-Event-ID: <its last id>`. Meanwhile live events keep coming (--live-rate per second).
//    A client is "live again" once it has every event it missed (all missed seqs on its channels).
// 6. Live publishing stops; one last event per channel; every client must then have received
//    every event of its channels exactly once and in order, across both connections.
// Measured: time from the storm's start until every client is live again (and per-client
// reconnect → live p50/p99), the server's peak RSS during the storm, store reads (the server's
// history is bench/lib/counting-store.mjs), events replayed. Prints one JSON line.

import {
  ClientPool,
  controlChannel,
  now,
  Publishers,
  sleep,
  waitSubscribers,
  withTimeout,
} from './lib/gen-common.mjs';
import { armWatchdog, generatorArgs, runGenerator } from './lib/gen-run.mjs';
import { Histogram } from './lib/hist.mjs';

const a = generatorArgs(
  {
    n: { type: 'string', default: '10000' },
    missed: { type: 'string', default: '100' },
    'spread-ms': { type: 'string', default: '1000' },
    'live-rate': { type: 'string', default: '10' },
    channels: { type: 'string', default: '10' },
    'live-timeout': { type: 'string', default: '120' },
  },
  { maxSeconds: '290' },
);

const N = Number(a.n);
const K = Number(a.channels);
const MISSED = Number(a.missed);
const SPREAD = Number(a['spread-ms']);
const result = /** @type {Record<string, any>} */ ({ n: N, channels: K, missed: MISSED, spreadMs: SPREAD });
armWatchdog(result, Number(a['max-seconds']));

const { ctl, close: closeCtl } = controlChannel(Number(a.ctl));
const tStart = now();
const phase = (what) => {
  process.stderr.write(`    [storm-gen ${((now() - tStart) / 1000).toFixed(1)} s] ${what}\n`);
  result.phase = what;
};

/**
 * Per logical client (it survives reconnects): its channel set as a bitmask, the next seq it
 * must see, and what went wrong.
 */
class Expect {
  constructor(i) {
    this.mask = (1 << (i % K)) | (1 << ((i + 1) % K)) | (1 << ((i + 2) % K));
    this.next = this.after(0);
    this.got = 0;
    this.lost = 0;
    this.dup = 0;
    this.lastId = '';
    this.liveAt = 0;
    this.reconnectAt = 0;
  }
  has(seq) {
    return (this.mask & (1 << (seq % K))) !== 0;
  }
  after(seq) {
    let s = seq + 1;
    while (!this.has(s)) s++;
    return s;
  }
}
/** @type {Expect[]} */
const expects = [];
let wrongChannel = 0;
let liveTarget = Number.POSITIVE_INFINITY; // a client is live once its next expected seq passes this
let liveCount = 0;
/** @type {(() => void) | null} */
let onAllLive = null;
let waitTarget = 0;
let waitCount = 0;
/** @type {(() => void) | null} */
let onAllWaited = null;

const pool = new ClientPool(Number(a.port), (client, seq) => {
  const e = /** @type {Expect} */ (client.expect);
  e.lastId = client.lastId;
  if (!e.has(seq)) wrongChannel++;
  else if (seq === e.next) {
    e.got++;
    e.next = e.after(seq);
  } else if (seq > e.next) {
    for (let s = e.next; s < seq; s = e.after(s)) e.lost++;
    e.got++;
    e.next = e.after(seq);
  } else e.dup++;
  if (e.next > liveTarget && e.liveAt === 0) {
    e.liveAt = pool.readAt;
    if (++liveCount === N && onAllLive) onAllLive();
  }
  if (e.next > waitTarget && e.waitedFor !== waitTarget) {
    e.waitedFor = waitTarget;
    if (++waitCount === N && onAllWaited) onAllWaited();
  }
});

/** Resolves true once every client has every event of its channels up to `seq`. */
function waitAll(seq, ms) {
  waitTarget = seq;
  waitCount = 0;
  for (const e of expects) {
    if (e.next > seq) {
      e.waitedFor = seq;
      waitCount++;
    }
  }
  if (waitCount === N) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      onAllWaited = null;
      resolve(false);
    }, ms);
    onAllWaited = () => {
      onAllWaited = null;
      clearTimeout(timer);
      resolve(true);
    };
  });
}

const pub = new Publishers(Number(a.ctl), 1);
let seq = 0;
/** Publishes the next seq on its channel; resolves when the server answered. */
function publishNext() {
  return new Promise((resolve) => {
    seq++;
    pub.onIdle = () => {
      pub.onIdle = null;
      resolve(undefined);
    };
    if (!pub.send(`seq=${seq}&ch=c${seq % K}`)) throw new Error('publisher busy');
  });
}

const pathOf = (i) => `/events?channel=c${i % K}&channel=c${(i + 1) % K}&channel=c${(i + 2) % K}`;

/** @type {import('node:net').Socket[]} */
let sockets = [];

async function main() {
  for (let i = 0; i < N; i++) expects.push(new Expect(i));
  const spec = (i, headers) => ({
    path: pathOf(i),
    headers,
    init: (c) => {
      c.trackIds = true;
      c.expect = expects[i];
    },
  });
  let t0 = now();
  sockets = (await pool.openMany(N, Number(a.concurrency), (i) => spec(i, {}))).map((o) => o.socket);
  result.connectMs = now() - t0;
  phase(`connected ${N}`);
  await waitSubscribers(ctl, N);
  await pub.open();
  for (let i = 0; i < 20; i++) await publishNext();
  if (!(await waitAll(seq, 30_000))) throw new Error('warm-up events did not reach every client');
  result.warmupLastSeq = seq;
  phase('warm-up done');
  const ids = new Set(expects.map((e) => e.lastId));
  result.distinctLastIdsBeforeCut = ids.size;

  // the cut
  for (const s of sockets) {
    s.cutByUs = true;
    s.destroy();
  }
  t0 = now();
  for (;;) {
    const st = await ctl('GET', '/stats');
    if (st.subscribers === 0) break;
    if (now() - t0 > 30_000)
      throw new Error(`server still reports ${st.subscribers} subscribers 30 s after the cut`);
    await sleep(20);
  }
  result.cutNoticedMs = now() - t0;
  phase('cut noticed');
  for (let i = 0; i < MISSED; i++) await publishNext();
  const lastMissed = seq;
  liveTarget = lastMissed;

  // the storm
  await sleep(200);
  const mem0 = await ctl('GET', '/mem');
  const rss0 = await ctl('GET', '/rss-peak?reset=1');
  const c0 = await ctl('GET', '/counters');
  await ctl('POST', '/mark');
  const allLive = new Promise((resolve) => {
    onAllLive = () => {
      onAllLive = null;
      resolve(now());
    };
  });
  phase('storm');
  const tStorm = now();
  let headAt = 0;
  let reconnectErrors = 0;
  let firstReconnectError = '';
  const reconnects = [];
  for (let i = 0; i < N; i++) {
    const e = expects[i];
    reconnects.push(
      new Promise((resolve) => {
        setTimeout(() => {
          e.reconnectAt = now();
          pool.open(pathOf(i), { 'Last-Event-ID': e.lastId }, spec(i).init).then(
            () => {
              headAt = now();
              resolve(undefined);
            },
            (err) => {
              reconnectErrors++;
              firstReconnectError ||= String(err?.message ?? err);
              resolve(undefined);
            },
          );
        }, Math.random() * SPREAD);
      }),
    );
  }
  // live events during the storm
  let livePublished = 0;
  let storming = true;
  const liveLoop = (async () => {
    const gap = 1000 / Number(a['live-rate']);
    while (storming) {
      await sleep(gap);
      if (!storming) break;
      await publishNext();
      livePublished++;
    }
  })();
  const live = await Promise.race([allLive, sleep(Number(a['live-timeout']) * 1000).then(() => -1)]);
  phase(live < 0 ? `not all live after ${a['live-timeout']} s (${liveCount})` : 'all live');
  await withTimeout(Promise.all(reconnects), 30_000, 'reconnects');
  storming = false;
  await liveLoop;
  const cpu = await ctl('GET', '/cpu');
  const rss1 = await ctl('GET', '/rss-peak');
  const c1 = await ctl('GET', '/counters');
  const h = new Histogram();
  for (const e of expects) if (e.liveAt) h.add(e.liveAt - e.reconnectAt);
  result.storm = {
    allLiveMs: live < 0 ? null : live - tStorm,
    liveClients: liveCount,
    lastHeadMs: headAt - tStorm,
    reconnectToLive: h.summary(),
    reconnectErrors,
    firstReconnectError,
    livePublished,
    rssBefore: rss0.now,
    rssPeak: rss1.peak,
    heapBefore: mem0.heapUsed,
    serverCpuUs: cpu.user + cpu.system,
    serverUserUs: cpu.user,
    serverSystemUs: cpu.system,
    storeReads: (c1.store?.reads ?? 0) - (c0.store?.reads ?? 0),
    storeReadRecords: (c1.store?.readRecords ?? 0) - (c0.store?.readRecords ?? 0),
    storeMaxReadsInFlight: c1.store?.maxInFlight,
    storeDistinctReads: (c1.store?.distinctReads ?? 0) - (c0.store?.distinctReads ?? 0),
    eventsReplayed: (c1.eventsReplayed ?? 0) - (c0.eventsReplayed ?? 0),
    streamResets: (c1.streamResets ?? 0) - (c0.streamResets ?? 0),
  };
  // one last event per channel, then the exactly-once check
  for (let i = 0; i < K; i++) await publishNext();
  const complete = await waitAll(seq, 30_000);
  phase('final events delivered');
  let lost = 0;
  let dup = 0;
  let short = 0;
  let got = 0;
  for (const e of expects) {
    lost += e.lost;
    dup += e.dup;
    got += e.got;
    if (e.next <= seq) short++;
  }
  const st = await ctl('GET', '/stats?final=1');
  result.lastSeq = seq;
  result.serverCpuTotalUs = st.cpuTotalUs;
  result.verify = {
    complete,
    eventsReceived: got,
    lost,
    duplicated: dup,
    wrongChannel,
    clientsShort: short,
    closedEarly: pool.closedEarly,
    socketErrors: pool.errors,
    lastSocketError: pool.lastError,
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
