// Publish → delivery latency to real SSE clients over HTTP, across processes through the Redis
// bus against in-process (issue 11: "cross-process p99 within 2 ms of in-process at 1k events/s").
// bench/redis.mjs runs it as its part 5 (measureLatency); this file is also the child process:
//
//   node bench/redis-latency.mjs --role serve|publish|both --history memory|redis --bus local|redis
//                                --url redis://… --ns <namespace>
//
// A child builds `events()` as an application would (the built package), serves
// createHandler() on a free loopback port (roles serve and both) and publishes when told to
// (roles publish and both). It talks JSON lines: stdout {"ready":true,"port":P}; stdin
// {"cmd":"run","rate":R,"ms":M} → publishes R events/s for M ms, paced by a 1 ms timer (each tick
// publishes what is due since the last one: on a loaded machine the timer fires every 10-20 ms,
// not every 1 ms, and the rate asked must still be the rate sent; only a stall longer than
// 100 ms is not caught up, and the achieved rate, `sent`, says so), then
// {"done":true,"last":S,"sent":N,"cpuUs":C,"failed":F}; {"cmd":"mark"} / {"cmd":"cpu"} → its CPU
// since the mark; {"cmd":"exit"} → closes and exits.
//
// Each event's data is {"seq":<n>,"t":<µs>}: t is process.hrtime() when publish() was called. On
// Linux hrtime is CLOCK_MONOTONIC, one clock for every process of the machine, so the clients
// (in the harness process, never in a server's) subtract it from their own hrtime at the read
// that brought the event: publish() call → bytes read by the client, whoever published.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const CHANNEL = 'lat';

if (process.argv.includes('--role')) await child();

async function child() {
  const { values: o } = parseArgs({
    options: {
      role: { type: 'string' },
      history: { type: 'string', default: 'redis' },
      bus: { type: 'string', default: 'local' },
      url: { type: 'string' },
      ns: { type: 'string', default: 'lat' },
      pubsub: { type: 'string', default: 'sharded' },
    },
  });
  const { events, createHandler } = await import('../dist/index.js');
  let store;
  let bus;
  if (o.history === 'redis') {
    const { redisBus, redisStore } = await import('../dist/redis.js');
    store = redisStore({ url: o.url, namespace: o.ns, maxEventsPerChannel: 1000, pubsub: o.pubsub });
    if (o.bus === 'redis') bus = redisBus({ store });
  } else if (o.history === 'postgres') {
    // The same process on the Postgres engine (bench/postgres.mjs): --url is a postgres:// URL.
    const { postgresBus, postgresStore } = await import('../dist/postgres.js');
    store = postgresStore({ url: o.url, namespace: o.ns, maxEventsPerChannel: 1000 });
    if (o.bus === 'postgres') bus = postgresBus({ store });
  }
  const ev = events({ keepAlive: false, ...(store && { history: store }), ...(bus && { bus }) });
  let failed = 0;
  ev.on('error', () => {});
  const send = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);
  let port = 0;
  let server;
  if (o.role !== 'publish') {
    const handler = createHandler({ events: ev });
    server = http.createServer((req, res) => handler(req, res));
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    port = server.address().port;
  }
  let seq = 0;
  let mark = process.cpuUsage();
  const cpuUs = () => {
    const d = process.cpuUsage(mark);
    return d.user + d.system;
  };
  const publishOne = () => {
    seq++;
    const t = Number(process.hrtime.bigint() / 1000n);
    ev.publish(CHANNEL, { event: 'tick', data: { seq, t } }).catch(() => {
      failed++;
    });
  };
  /** R events/s for `ms`, paced by a 1 ms timer, never more than 100 ms' worth per tick. */
  const run = (rate, ms) =>
    new Promise((resolve) => {
      const start = performance.now();
      const cap = Math.max(1, Math.ceil(rate / 10));
      let due = 0;
      let last = start;
      let sent = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        due = Math.min(cap, due + ((now - last) * rate) / 1000);
        last = now;
        while (due >= 1) {
          publishOne();
          sent++;
          due--;
        }
        if (now - start >= ms) {
          clearInterval(timer);
          resolve(sent);
        }
      }, 1);
    });
  send({ ready: true, port, pid: process.pid });
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line);
    if (cmd.cmd === 'mark') {
      mark = process.cpuUsage();
      send({ marked: true });
    } else if (cmd.cmd === 'cpu') {
      send({ cpuUs: cpuUs(), busDelivered: bus?.stats.delivered ?? 0, bus: bus?.stats });
    } else if (cmd.cmd === 'wait') {
      // Until `n` clients follow `channel` and the bus delivers everything on it from now on.
      const deadline = performance.now() + 10_000;
      while ((ev.stats().subscribers[cmd.channel] ?? 0) < cmd.n && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      await bus?.subscribe(cmd.channel);
      send({ subscribers: ev.stats().subscribers[cmd.channel] ?? 0 });
    } else if (cmd.cmd === 'run') {
      const before = failed;
      mark = process.cpuUsage();
      const sent = await run(cmd.rate, cmd.ms);
      send({ done: true, last: seq, sent, cpuUs: cpuUs(), failed: failed - before });
    } else if (cmd.cmd === 'exit') {
      server?.closeAllConnections();
      server?.close();
      await ev.close();
      await store?.close();
      process.exit(0);
    }
  }
}

/** The setups measured by measureLatency(), each with the processes it runs. */
export const LATENCY_SETUPS = [
  {
    key: 'memory-local',
    label: 'one process: in-memory history, default LocalBus (no Redis)',
    procs: [{ role: 'both', history: 'memory', bus: 'local' }],
  },
  {
    key: 'redis-local',
    label: 'one process: Redis history, default LocalBus',
    procs: [{ role: 'both', history: 'redis', bus: 'local' }],
  },
  {
    key: 'redis-bus',
    label: 'one process: Redis history and Redis bus',
    procs: [{ role: 'both', history: 'redis', bus: 'redis' }],
  },
  {
    key: 'cross',
    label: 'two processes: A publishes, B serves the clients (Redis history and bus in both)',
    procs: [
      { role: 'serve', history: 'redis', bus: 'redis' },
      { role: 'publish', history: 'redis', bus: 'redis' },
    ],
  },
];

/** Spawns one child and gives it a JSON-lines request function. */
function startChild(spec, url, ns, nodeArgs, pubsub = 'sharded') {
  const proc = spawn(
    process.execPath,
    [
      ...nodeArgs,
      SELF,
      '--role',
      spec.role,
      '--history',
      spec.history,
      '--bus',
      spec.bus,
      '--url',
      url,
      '--ns',
      ns,
      '--pubsub',
      pubsub,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const queue = [];
  const waiting = [];
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const msg = JSON.parse(line);
    const w = waiting.shift();
    if (w) w(msg);
    else queue.push(msg);
  });
  const next = (ms = 60_000) =>
    new Promise((resolve, reject) => {
      if (queue.length > 0) {
        resolve(queue.shift());
        return;
      }
      const timer = setTimeout(() => reject(new Error(`child ${spec.role} did not answer in ${ms} ms`)), ms);
      waiting.push((msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
    });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  return {
    spec,
    proc,
    next,
    async request(cmd, ms) {
      proc.stdin.write(`${JSON.stringify(cmd)}\n`);
      return next(ms);
    },
    async exit() {
      proc.stdin.write('{"cmd":"exit"}\n');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Measures every setup at every rate, `rounds` times (each round runs the setups in an order
 * rotated by the round), merging the samples of the rounds. Returns one row per setup and rate.
 */
export async function measureLatency({
  redisUrl,
  redisPid,
  cpuMs,
  rates = [1000, 10_000],
  clients = 10,
  warmMs = 500,
  measureMs = 5000,
  rounds = 2,
  profileDir,
  setups = LATENCY_SETUPS.map((x) => x.key),
  catalog = LATENCY_SETUPS,
  log = console.log,
}) {
  const chosen = catalog.filter((x) => setups.includes(x.key));
  const { ClientPool } = await import('./lib/gen-common.mjs');
  const { Histogram } = await import('./lib/hist.mjs');
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // hrtime (ms) = performance.now() + OFFSET: both count from the same monotonic clock.
  const OFFSET_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  const hrNowUs = () => Number(process.hrtime.bigint() / 1000n);

  const rows = new Map();
  const rowOf = (setup, rate) => {
    const key = `${setup.key}@${rate}`;
    if (!rows.has(key)) {
      rows.set(key, {
        setup: setup.key,
        label: setup.label,
        rate,
        hist: new Histogram(),
        runs: [],
        sent: 0,
        seconds: 0,
        lost: 0,
        reordered: 0,
        failed: 0,
        undelivered: 0,
        serveCpuUs: 0,
        publishCpuUs: 0,
        redisCpuMs: 0,
      });
    }
    return rows.get(key);
  };

  let run = 0;
  for (let round = 0; round < rounds; round++) {
    const order = chosen.map((_, i) => chosen[(i + round) % chosen.length]);
    for (const setup of order) {
      const ns = `lat${round}${setup.key.replace(/-/g, '')}`;
      const children = setup.procs.map((spec, i) =>
        startChild(
          spec,
          redisUrl,
          ns,
          profileDir
            ? [
                '--cpu-prof',
                `--cpu-prof-dir=${profileDir}`,
                `--cpu-prof-name=redis-lat-${setup.key}-${spec.role}-r${round}-${i}.cpuprofile`,
              ]
            : [],
        ),
      );
      const hello = await Promise.all(children.map((c) => c.next()));
      const servingAt = children.findIndex((c) => c.spec.role !== 'publish');
      const publisher = children.find((c) => c.spec.role !== 'serve');
      // The measurement window, on publish times (µs of the shared monotonic clock).
      let windowFrom = Number.POSITIVE_INFINITY;
      let windowTo = Number.POSITIVE_INFINITY;
      let hist = null;
      const pool = new ClientPool(hello[servingAt].port, (_client, _seq, t) => {
        if (hist !== null && t >= windowFrom && t < windowTo) {
          hist.add(pool.readAt + OFFSET_MS - t / 1000);
        }
      });
      const opened = await pool.openMany(clients, clients, () => ({ path: `/?channel=${CHANNEL}` }));
      const sse = opened.map((o) => o.client);
      // A response head is not a subscription: wait until the serving process counts every client
      // (a resume read on a loaded database can take longer than the priming run).
      await children[servingAt].request({ cmd: 'wait', channel: CHANNEL, n: clients });
      const allReached = async (last, ms) => {
        const deadline = performance.now() + ms;
        while (!sse.every((c) => c.last >= last)) {
          if (performance.now() > deadline) return false;
          await sleep(5);
        }
        return true;
      };
      // Priming: every client subscribed and receiving before anything is measured.
      const primed = await publisher.request({ cmd: 'run', rate: 1000, ms: 300 });
      if (!(await allReached(primed.last, 10_000))) {
        const got = sse
          .map((c) => `${c.last}/${c.bodyBytes}b${c.ended ? ' ended' : ''}${c.protocolError}`)
          .join(', ');
        throw new Error(
          `${setup.key}: clients not receiving (${primed.failed} failed; last ${primed.last}, clients at ${got})`,
        );
      }
      for (const rate of rates) {
        const row = rowOf(setup, rate);
        const lost0 = sse.reduce((s, c) => s + c.lost, 0);
        const reordered0 = sse.reduce((s, c) => s + c.reordered, 0);
        await Promise.all(children.map((c) => c.request({ cmd: 'mark' })));
        const redis0 = cpuMs(redisPid);
        hist = new Histogram();
        const runHist = hist;
        windowFrom = hrNowUs() + warmMs * 1000;
        windowTo = windowFrom + measureMs * 1000;
        const done = await publisher.request({ cmd: 'run', rate, ms: warmMs + measureMs }, 120_000);
        const reached = await allReached(done.last, 15_000);
        const redisCpu = cpuMs(redisPid) - redis0;
        const cpus = await Promise.all(children.map((c) => c.request({ cmd: 'cpu' })));
        hist = null;
        row.hist.merge(runHist);
        row.runs.push({ p50: runHist.percentile(50), p99: runHist.percentile(99), max: runHist.max });
        const bus = cpus[servingAt].bus;
        const seconds = (warmMs + measureMs) / 1000;
        row.sent += done.sent;
        row.seconds += seconds;
        row.failed += done.failed;
        row.lost += sse.reduce((s, c) => s + c.lost, 0) - lost0;
        row.reordered += sse.reduce((s, c) => s + c.reordered, 0) - reordered0;
        if (!reached) row.undelivered += sse.filter((c) => c.last < done.last).length;
        row.serveCpuUs += cpus[servingAt].cpuUs;
        row.publishCpuUs += cpus[children.indexOf(publisher)].cpuUs;
        row.redisCpuMs += setup.procs[0].history !== 'memory' ? redisCpu : 0;
        run++;
        log(
          `  [${run}] r${round} ${setup.key.padEnd(12)} ${String(rate).padStart(5)}/s: sent ${done.sent}, ` +
            `p50 ${runHist.percentile(50).toFixed(2)} ms, p99 ${runHist.percentile(99).toFixed(2)} ms, max ${runHist.max.toFixed(1)} ms` +
            (bus?.syncs !== undefined
              ? `; serving bus: ${bus.syncs} syncs, ${bus.gaps} gaps, ${bus.storeReads} reads so far`
              : '') +
            `${reached ? '' : ' (NOT every client got the last event)'}`,
        );
        await sleep(200);
      }
      pool.destroyAll();
      await Promise.all(children.map((c) => c.exit()));
    }
  }
  const median = (xs) => {
    const sorted = [...xs].sort((x, y) => x - y);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  return [...rows.values()].map((r) => {
    const s = r.hist.summary();
    return {
      setup: r.setup,
      label: r.label,
      rate: r.rate,
      clients,
      sentPerSec: r.sent / r.seconds,
      deliveries: s.n,
      // Each round's own percentiles, and their median: one stall caused by another program in
      // one round moves the pooled p99 of every sample, not the median of the rounds'.
      rounds: r.runs,
      p50Ms: median(r.runs.map((x) => x.p50)),
      p99Ms: median(r.runs.map((x) => x.p99)),
      pooledP50Ms: s.p50,
      pooledP99Ms: s.p99,
      maxMs: s.max,
      meanMs: s.mean,
      lost: r.lost,
      reordered: r.reordered,
      failed: r.failed,
      undelivered: r.undelivered,
      serveCpuUsPerEvent: r.serveCpuUs / r.sent,
      publishCpuUsPerEvent: r.publishCpuUs / r.sent,
      redisCpuUsPerEvent: (r.redisCpuMs * 1000) / r.sent,
    };
  });
}

/**
 * Who pays for a channel's traffic: process B serves `clients` clients on one channel while
 * process A publishes `rate` events/s on another (then on theirs), for sharded and classic
 * pub/sub. B's CPU per second of each run, against a run where nothing is published, and how
 * many events B's bus received.
 */
export async function measureInterest({
  redisUrl,
  clients = 10,
  rate = 10_000,
  seconds = 3,
  log = console.log,
}) {
  const { ClientPool } = await import('./lib/gen-common.mjs');
  const rows = [];
  for (const pubsub of ['sharded', 'classic']) {
    const ns = `interest${pubsub}`;
    const spec = { history: 'redis', bus: 'redis' };
    const [serve, publish] = [
      startChild({ ...spec, role: 'serve' }, redisUrl, ns, [], pubsub),
      startChild({ ...spec, role: 'publish' }, redisUrl, ns, [], pubsub),
    ];
    const [hello] = await Promise.all([serve.next(), publish.next()]);
    for (const [follow, publishRate] of [
      ['quiet', 0],
      ['quiet', rate],
      [CHANNEL, rate],
    ]) {
      const pool = new ClientPool(hello.port, () => {});
      await pool.openMany(clients, clients, () => ({ path: `/?channel=${follow}` }));
      await serve.request({ cmd: 'wait', channel: follow, n: clients });
      const before = await serve.request({ cmd: 'cpu' });
      await serve.request({ cmd: 'mark' });
      const done = await publish.request({ cmd: 'run', rate: publishRate, ms: seconds * 1000 }, 120_000);
      const after = await serve.request({ cmd: 'cpu' });
      const row = {
        pubsub,
        follows: follow === CHANNEL ? 'the busy channel' : 'another channel',
        publishedPerSec: done.sent / seconds,
        serveCpuMsPerSec: after.cpuUs / 1000 / seconds,
        busReceived: after.busDelivered - before.busDelivered,
      };
      rows.push(row);
      log(
        `  ${pubsub.padEnd(7)} clients follow ${row.follows.padEnd(16)} while ${Math.round(row.publishedPerSec)} events/s are published: ` +
          `serving process CPU ${row.serveCpuMsPerSec.toFixed(1)} ms/s, its bus received ${row.busReceived} events`,
      );
      pool.destroyAll();
      await new Promise((r) => setTimeout(r, 200));
    }
    await Promise.all([serve.exit(), publish.exit()]);
  }
  return rows;
}
