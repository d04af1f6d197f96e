// Redis engine figures (`npm run build && node bench/redis.mjs [--quick] [--json <file>]`).
// Starts its own redis-server (no AOF, loopback, free port) and measures:
//   1. store appends (one script call per batch) by batch size and calls in flight, sustained for
//      a few seconds each: events/s, round trips and Redis commands per event, and Redis' own CPU
//      (utime+stime of redis-server from /proc) per event and in % of one core;
//   2. events.publish() through the library (the core batches each tick's publishes into one
//      append), from 1 and 2 publisher processes: the sustained publish rate through one Redis;
//   3. a resume of 1,000 events on 10 channels: the store read alone, and a client reconnecting
//      with Last-Event-ID to an origin on the Redis history (time to its last event, round trips);
//   4. the bus' publish→delivery latency (another connection appends, paced);
//   5. publish→delivery latency to real SSE clients over HTTP: across processes through the
//      Redis bus against in-process, at 1k and 10k events/s (bench/redis-latency.mjs);
//   6. who pays for a channel's traffic: the CPU of a process whose clients follow another channel.
// Round trips are counted by Redis itself (INFO commandstats: calls of EVALSHA), so they include
// every script call the library made, whoever made it.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSection } from './lib/sections.mjs';

const BODY = `event: tick\ndata: ${JSON.stringify({ value: 'x'.repeat(64) })}\n\n`;
const SELF = fileURLToPath(import.meta.url);

// --- load child: `node bench/redis.mjs --child <publish|append> <url> <namespace> <ms>` ----------
//   publish: events.publish() through the library; append: store.append() of 1,000-event batches.
if (process.argv[2] === '--child') {
  const [kind, url, namespace, ms] = process.argv.slice(3);
  const { events } = await import('../dist/index.js');
  const { redisStore } = await import('../dist/redis.js');
  const store = redisStore({ url, namespace, maxEventsPerChannel: 1000 });
  const ev = events({ history: store, keepAlive: false });
  await ev.publish('c0', { event: 'tick', data: 'warm-up' });
  console.log('ready');
  await new Promise((resolve) => process.stdin.once('data', resolve));
  const count = kind === 'publish' ? await publishFor(ev, Number(ms)) : await appendFor(store, Number(ms));
  console.log(`count ${count}`);
  await ev.close();
  await store.close();
  process.exit(0);
}

/** Appends 1,000-event batches, two calls in flight, for `ms`. */
async function appendFor(store, ms) {
  const items = Array.from({ length: 1000 }, (_, i) => ({ channel: `c${i % 10}`, body: BODY }));
  const end = performance.now() + ms;
  let count = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (performance.now() < end) {
        await store.append(items);
        count += items.length;
      }
    }),
  );
  return count;
}

/** Publishes as fast as the library accepts for `ms`: 1,000 publishes per tick, then awaits them. */
async function publishFor(ev, ms) {
  const data = { value: 'x'.repeat(64) };
  const end = performance.now() + ms;
  let count = 0;
  while (performance.now() < end) {
    const batch = [];
    for (let i = 0; i < 1000; i++) batch.push(ev.publish(`c${i % 10}`, { event: 'tick', data }));
    await Promise.all(batch);
    count += batch.length;
  }
  return count;
}

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    // Write the results into the Redis section of this file.
    report: { type: 'string' },
    // Render from a saved --json file instead of measuring.
    from: { type: 'string' },
    // Part 5 only (no report): for working on the latency path.
    'latency-only': { type: 'boolean', default: false },
    'latency-clients': { type: 'string', default: '10' },
    'latency-rounds': { type: 'string', default: '5' },
    'latency-rates': { type: 'string', default: '1000,10000' },
    // Some of memory-local, redis-local, redis-bus, cross (default all; the report needs all).
    'latency-setups': { type: 'string' },
    // Start part 5's processes with --cpu-prof, writing into this directory.
    'latency-profile': { type: 'string' },
  },
});
if (args.from) {
  writeReport(JSON.parse(readFileSync(args.from, 'utf8')), args.report ?? 'BENCHMARKS.md');
  process.exit(0);
}
const SECONDS = args.quick ? 1 : 4;

const { events, createHandler } = await import('../dist/index.js');
const { redisBus, redisStore } = await import('../dist/redis.js');
const { startRedis } = await import('../scripts/redis.mjs');

const pct = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const CLK_TCK = 100; // Linux USER_HZ: /proc times are in 1/100 s

function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // utime + stime
}

/** A Grip-Sig as Pushpin signs it with its default key (`changeme`, HS256, iss `pushpin`). */
function gripSig() {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${b64({ typ: 'JWT', alg: 'HS256' })}.${b64({ iss: 'pushpin', exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${unsigned}.${createHmac('sha256', 'changeme').update(unsigned).digest('base64url')}`;
}

/** Parses INFO commandstats into { command: { calls, usec } }. */
function commandStats(server) {
  const out = {};
  for (const line of server.cli('INFO', 'commandstats').split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) out[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
  }
  return out;
}

/** Runs `fn`, returning its result with Redis' CPU, script calls and all commands meanwhile. */
async function measured(server, fn) {
  server.cli('CONFIG', 'RESETSTAT');
  const cpu0 = cpuMs(server.pid);
  const t0 = performance.now();
  const result = await fn();
  const ms = performance.now() - t0;
  const cpu = cpuMs(server.pid) - cpu0;
  const stats = commandStats(server);
  const scripts = (stats.evalsha?.calls ?? 0) + (stats.eval?.calls ?? 0);
  // Commands a script ran are counted too; INFO/CONFIG are this harness' own.
  let commands = 0;
  for (const [name, s] of Object.entries(stats)) {
    if (!['info', 'config|resetstat', 'evalsha', 'eval', 'config'].includes(name)) commands += s.calls;
  }
  const scriptUsec = (stats.evalsha?.usec ?? 0) + (stats.eval?.usec ?? 0);
  return { result, ms, redisCpuMs: cpu, scripts, commands, scriptUsec };
}

const results = {
  startedAt: new Date().toISOString(),
  loadBefore: os.loadavg().map((x) => Number(x.toFixed(2))),
  cpus: os.cpus().length,
  node: process.version,
  seconds: SECONDS,
};
const server = await startRedis();
results.redisVersion = /redis_version:(\S+)/.exec(server.cli('INFO', 'server'))?.[1];
console.log(
  `redis-server ${results.redisVersion} pid ${server.pid}; load ${results.loadBefore.join(' ')}; ${results.cpus} CPUs`,
);

try {
  if (!args['latency-only']) await parts1to4();
  // 5. Publish → delivery to SSE clients over HTTP, across processes and in-process.
  const { measureLatency } = await import('./redis-latency.mjs');
  const latencyOptions = {
    clients: Number(args['latency-clients']),
    rounds: args.quick ? 1 : Number(args['latency-rounds']),
    rates: args['latency-rates'].split(',').map(Number),
    measureMs: args.quick ? 1500 : 5000,
    warmMs: 500,
  };
  results.latencyLoadBefore = os.loadavg().map((x) => Number(x.toFixed(2)));
  console.log(
    `\n5. publish → delivery to ${latencyOptions.clients} SSE clients over HTTP (load ${results.latencyLoadBefore.join(' ')})`,
  );
  results.latency = await measureLatency({
    redisUrl: server.url,
    redisPid: server.pid,
    cpuMs,
    ...latencyOptions,
    ...(args['latency-profile'] && { profileDir: args['latency-profile'] }),
    ...(args['latency-setups'] && { setups: args['latency-setups'].split(',') }),
  });
  results.latencyMethod = { ...latencyOptions };
  // 6. Who pays for a channel's traffic (per-channel subscriptions, sharded or classic pub/sub).
  console.log('\n6. a process whose clients follow another channel than the busy one');
  const { measureInterest } = await import('./redis-latency.mjs');
  results.interest = await measureInterest({ redisUrl: server.url, seconds: args.quick ? 1 : 3 });
  results.latencyLoadAfter = os.loadavg().map((x) => Number(x.toFixed(2)));
  for (const r of results.latency) {
    console.log(
      `  ${r.setup.padEnd(12)} ${String(r.rate).padStart(5)}/s (sent ${Math.round(r.sentPerSec)}/s): ` +
        `p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms (medians of ${r.rounds.length} rounds; all samples: ` +
        `p99 ${r.pooledP99Ms.toFixed(2)} ms, max ${r.maxMs.toFixed(1)} ms) over ${r.deliveries} deliveries; ` +
        `lost ${r.lost}, reordered ${r.reordered}, failed ${r.failed}; CPU µs/event: serving ${r.serveCpuUsPerEvent.toFixed(1)}, ` +
        `publishing ${r.publishCpuUsPerEvent.toFixed(1)}, redis-server ${r.redisCpuUsPerEvent.toFixed(1)}`,
    );
  }
} finally {
  await server.stop();
}

async function parts1to4() {
  // 1. Store appends.
  console.log(
    `\n1. store.append through one redis-server, ${SECONDS} s each (10 channels, ${BODY.length} B events)`,
  );
  results.appends = [];
  for (const [batch, inFlight] of [
    [1, 1],
    [1, 16],
    [10, 4],
    [100, 1],
    [100, 4],
    [1000, 1],
    [1000, 2],
  ]) {
    const store = redisStore({
      url: server.url,
      namespace: `tp${batch}x${inFlight}`,
      maxEventsPerChannel: 1000,
    });
    const items = Array.from({ length: batch }, (_, i) => ({ channel: `c${i % 10}`, body: BODY }));
    await store.append(items); // loads the script
    const m = await measured(server, async () => {
      const end = performance.now() + SECONDS * 1000;
      let sent = 0;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (performance.now() < end) {
            await store.append(items);
            sent += batch;
          }
        }),
      );
      return sent;
    });
    const sent = m.result;
    const row = {
      batch,
      inFlight,
      eventsPerSec: Math.round((sent / m.ms) * 1000),
      roundTripsPerEvent: m.scripts / sent,
      commandsPerEvent: m.commands / sent,
      redisCpuUsPerEvent: (m.redisCpuMs * 1000) / sent,
      redisCorePct: Math.round((m.redisCpuMs / m.ms) * 100),
      scriptUsPerEvent: m.scriptUsec / sent,
    };
    results.appends.push(row);
    console.log(
      `  batch ${String(batch).padStart(4)} × ${String(inFlight).padStart(2)} in flight: ${String(row.eventsPerSec).padStart(7)} events/s; ` +
        `${row.roundTripsPerEvent.toFixed(3)} round trips, ${row.commandsPerEvent.toFixed(2)} Redis commands/event; ` +
        `redis-server CPU ${row.redisCpuUsPerEvent.toFixed(1)} µs/event (${row.redisCorePct}% of a core; ` +
        `one core's worth ≈ ${Math.round(1e6 / row.redisCpuUsPerEvent)} events/s); script time ${row.scriptUsPerEvent.toFixed(1)} µs/event`,
    );
    await store.close();
  }

  // 2. Several processes on one namespace: the library's publish path, and bare 1,000-event appends.
  console.log(`\n2. processes publishing to one namespace, ${SECONDS} s, as fast as each resolves`);
  results.publish = [];
  for (const [kind, processes] of [
    ['publish', 1],
    ['publish', 2],
    ['publish', 3],
    ['append', 2],
    ['append', 3],
  ]) {
    const namespace = `${kind}${processes}`;
    const children = Array.from({ length: processes }, () =>
      spawn(process.execPath, [SELF, '--child', kind, server.url, namespace, String(SECONDS * 1000)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
    const lines = children.map((c) => {
      let out = '';
      const waiters = [];
      c.stdout.setEncoding('utf8').on('data', (d) => {
        out += d;
        for (const w of waiters) w();
      });
      return (re) =>
        new Promise((resolve) => {
          const check = () => {
            const m = re.exec(out);
            if (m) resolve(m);
          };
          waiters.push(check);
          check();
        });
    });
    await Promise.all(lines.map((l) => l(/ready/)));
    const m = await measured(server, async () => {
      for (const c of children) c.stdin.write('go\n');
      const counts = await Promise.all(lines.map((l) => l(/count (\d+)/)));
      return counts.reduce((sum, match) => sum + Number(match[1]), 0);
    });
    const row = {
      kind,
      processes,
      eventsPerSec: Math.round((m.result / m.ms) * 1000),
      eventsPerRoundTrip: m.result / m.scripts,
      commandsPerEvent: m.commands / m.result,
      redisCpuUsPerEvent: (m.redisCpuMs * 1000) / m.result,
      redisCorePct: Math.round((m.redisCpuMs / m.ms) * 100),
    };
    results.publish.push(row);
    console.log(
      `  ${kind === 'publish' ? 'events.publish()' : 'store.append(1000)'} in ${processes} process(es): ${row.eventsPerSec} events/s; ${row.eventsPerRoundTrip.toFixed(0)} events per round trip; ` +
        `redis-server CPU ${row.redisCpuUsPerEvent.toFixed(1)} µs/event (${row.redisCorePct}% of a core; ` +
        `one core's worth ≈ ${Math.round(1e6 / row.redisCpuUsPerEvent)} events/s)`,
    );
    await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
  }

  // 3. Resume of 1,000 events on 10 channels.
  console.log('\n3. resume of 1,000 events on 10 channels');
  const resumeStore = redisStore({ url: server.url, namespace: 'resume', maxEventsPerChannel: 1000 });
  const { epoch, events: appended } = await resumeStore.append([{ channel: 'c0', body: BODY }]);
  const from = `${epoch}-${appended[0].seq}`;
  await resumeStore.append(Array.from({ length: 1000 }, (_, i) => ({ channel: `c${i % 10}`, body: BODY })));
  const channels = Array.from({ length: 10 }, (_, i) => `c${i}`);
  const storeTimes = [];
  let storeTrips = 0;
  for (let i = 0; i < 30; i++) {
    const m = await measured(server, () => resumeStore.readAfter(channels, appended[0].seq));
    if (m.result.records.length !== 1000) throw new Error('short read');
    storeTimes.push(m.ms);
    storeTrips = m.scripts;
  }
  const ev = events({ history: resumeStore, keepAlive: false });
  // Verifies Pushpin's default Grip-Sig (key `changeme`); requests without one are streamed directly.
  const handler = createHandler({ events: ev, grip: 'http://127.0.0.1:5561?key=changeme' });
  const origin = http.createServer((req, res) => handler(req, res));
  await new Promise((r) => origin.listen(0, '127.0.0.1', r));
  const path = `/?${channels.map((c) => `channel=${c}`).join('&')}`;
  /** The hold response a GRIP proxy gets: the whole replay in one body (one store read). */
  const gripResumeOnce = () =>
    new Promise((resolve, reject) => {
      const req = http.get(
        {
          host: '127.0.0.1',
          port: origin.address().port,
          path,
          agent: false,
          headers: { accept: 'text/event-stream', 'last-event-id': from, 'grip-sig': gripSig() },
        },
        (res) => {
          let count = 0;
          res.setEncoding('utf8');
          res.on('data', (chunk) => {
            count += chunk.split('event: tick\n').length - 1;
          });
          res.on('end', () =>
            count === 1000 ? resolve() : reject(new Error(`hold body had ${count} events`)),
          );
        },
      );
      req.on('error', reject);
    });
  const resumeOnce = () =>
    new Promise((resolve, reject) => {
      let seen = 0;
      let text = '';
      const req = http.get(
        {
          host: '127.0.0.1',
          port: origin.address().port,
          path,
          agent: false,
          headers: { accept: 'text/event-stream', 'last-event-id': from },
        },
        (res) => {
          res.setEncoding('utf8');
          res.on('data', (chunk) => {
            text += chunk;
            let i = text.indexOf('event: tick\n');
            while (i !== -1) {
              seen++;
              text = text.slice(i + 12);
              i = text.indexOf('event: tick\n');
            }
            if (seen >= 1000) {
              req.destroy();
              resolve();
            }
          });
        },
      );
      req.on('error', (err) => {
        if (seen < 1000) reject(err);
      });
    });
  const clientTimes = [];
  let clientTrips = 0;
  for (let i = 0; i < 30; i++) {
    const m = await measured(server, resumeOnce);
    clientTimes.push(m.ms);
    clientTrips = m.scripts;
  }
  const gripTimes = [];
  let gripTrips = 0;
  for (let i = 0; i < 30; i++) {
    const m = await measured(server, gripResumeOnce);
    gripTimes.push(m.ms);
    gripTrips = m.scripts;
  }
  origin.closeAllConnections();
  origin.close();
  await ev.close();
  results.resume = {
    storeRoundTrips: storeTrips,
    storeP50Ms: pct(storeTimes, 50),
    clientRoundTrips: clientTrips,
    clientP50Ms: pct(clientTimes, 50),
    clientP99Ms: pct(clientTimes, 99),
    gripRoundTrips: gripTrips,
    gripP50Ms: pct(gripTimes, 50),
    gripP99Ms: pct(gripTimes, 99),
  };
  console.log(
    `  store.readAfter(10 channels): ${storeTrips} round trip, p50 ${pct(storeTimes, 50).toFixed(2)} ms\n` +
      `  a client reconnecting with Last-Event-ID (request → 1,000th event): ${clientTrips} round trips, ` +
      `p50 ${pct(clientTimes, 50).toFixed(2)} ms, p99 ${pct(clientTimes, 99).toFixed(2)} ms\n` +
      `  the same through a GRIP proxy (request → end of the hold response): ${gripTrips} round trip(s), ` +
      `p50 ${pct(gripTimes, 50).toFixed(2)} ms, p99 ${pct(gripTimes, 99).toFixed(2)} ms`,
  );

  // 4. Bus latency: another connection appends, the bus delivers (paced).
  const pubStore = redisStore({ url: server.url, namespace: 'lat' });
  const subStore = redisStore({ url: server.url, namespace: 'lat' });
  const sent = [];
  const lat = [];
  const bus = redisBus({ store: subStore });
  await bus.start({
    deliver: (b) => {
      const now = performance.now();
      // One channel, appends in call order on one connection: the k-th delivery is the k-th append.
      for (let i = 0; i < b.length; i++) lat.push(now - sent[lat.length]);
    },
  });
  await bus.subscribe('c0');
  const n = args.quick ? 500 : 2000;
  for (let i = 0; i < n; i++) {
    sent.push(performance.now());
    void pubStore.append([{ channel: 'c0', body: BODY }]);
    await new Promise((res) => setTimeout(res, 1));
  }
  const deadline = performance.now() + 5000;
  while (lat.length < n && performance.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  results.bus = { events: lat.length, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99) };
  console.log(
    `\n4. bus publish→delivery, ~1k/s (append call → sink.deliver, ${lat.length} events): p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms`,
  );
  await bus.close();
  await Promise.all([pubStore.close(), subStore.close(), resumeStore.close()]);
}
results.loadAfter = os.loadavg().map((x) => Number(x.toFixed(2)));
console.log(`\nload after: ${results.loadAfter.join(' ')}`);
if (args.json) writeFileSync(args.json, `${JSON.stringify(results, null, 2)}\n`);
if (args.report && !args.quick && !args['latency-only']) writeReport(results, args.report);

/** The Redis section of `file` (kept by bench/report.mjs when the standard tables are rewritten). */
function writeReport(r, file) {
  const int = (x) => Math.round(x).toLocaleString('en-US');
  const ms = (x) => x.toFixed(2);
  let md = '## Redis\n\n';
  md += `Generated by \`node bench/redis.mjs --report BENCHMARKS.md\` on ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC: `;
  md += `redis-server ${r.redisVersion} (Debian, private, no persistence, loopback), Node ${r.node}, ${r.cpus} CPUs shared by `;
  md += `redis-server, the clients and whatever else ran. Load average (1/5/15 min) before: ${r.loadBefore.join(' / ')}, `;
  md += `after: ${r.loadAfter.join(' / ')}.\n\n`;
  md += 'Method:\n\n';
  md += '- Events are `event: tick` with 73 B of JSON data (96 B of SSE text), spread over 10 channels; ';
  md += 'each namespace keeps 1,000 events per channel, so streams are trimmed on every append once full.\n';
  md +=
    '- **Round trips** and **Redis commands** per event come from Redis itself (`INFO commandstats`, reset ';
  md += 'before each measurement): round trips are the EVALSHA calls (every store operation is one script ';
  md += 'call), commands include those the scripts ran (XADD, SPUBLISH, HGET, HSET, INCRBY, …).\n';
  md +=
    '- **redis-server CPU** is user + system time of the redis-server process (`/proc/<pid>/stat`) over the ';
  md +=
    'measurement; divided by the events it is the cost of one event in Redis, and 10⁶ µs divided by it is ';
  md +=
    'what one fully used Redis core would sustain (the ceiling of one shard: a namespace lives on one).\n';
  md += `- Each rate is sustained for ${r.seconds} s: the clients append (or publish) as fast as each call resolves.\n`;
  md += "- Resume: 1,000 events on 10 channels after the client's position; the client reconnects with ";
  md +=
    '`Last-Event-ID` to an origin on the Redis history (`createHandler`, direct stream: time from the request ';
  md += 'to its 1,000th event) or as a GRIP proxy would (a valid `Grip-Sig`: time to the end of the hold ';
  md += 'response, which carries the whole replay); 30 repeats.\n\n';
  md += '### Publish rate through one Redis\n\n';
  md +=
    "| path | batch (events per script call) | concurrency | events/s | round trips / event | Redis commands / event | redis-server CPU µs / event | redis-server core use | one core's worth, events/s |\n";
  md += '|---|---|---|---|---|---|---|---|---|\n';
  for (const a of r.appends) {
    md += `| \`store.append()\` | ${a.batch} | ${a.inFlight} call(s) in flight | ${int(a.eventsPerSec)} | ${a.roundTripsPerEvent.toFixed(3)} | ${a.commandsPerEvent.toFixed(2)} | ${a.redisCpuUsPerEvent.toFixed(1)} | ${a.redisCorePct} % | ${int(1e6 / a.redisCpuUsPerEvent)} |\n`;
  }
  for (const p of r.publish) {
    const what =
      p.kind === 'publish'
        ? '`events.publish()`, 1,000 per tick'
        : '`store.append()`, 2 calls in flight each';
    md += `| ${what} | ${int(p.eventsPerRoundTrip)} | ${p.processes} process(es) | ${int(p.eventsPerSec)} | ${(1 / p.eventsPerRoundTrip).toFixed(3)} | ${p.commandsPerEvent?.toFixed(2) ?? ''} | ${p.redisCpuUsPerEvent.toFixed(1)} | ${p.redisCorePct} % | ${int(1e6 / p.redisCpuUsPerEvent)} |\n`;
  }
  const best = Math.max(...r.appends.map((a) => a.eventsPerSec), ...r.publish.map((p) => p.eventsPerSec));
  const batched = r.appends.filter((a) => a.batch >= 100);
  const ceiling = Math.min(...batched.map((a) => 1e6 / a.redisCpuUsPerEvent));
  md += '\n### Resume of 1,000 events on 10 channels\n\n';
  md += '| path | Redis round trips | p50 ms | p99 ms |\n|---|---|---|---|\n';
  md += `| \`store.readAfter()\` alone | ${r.resume.storeRoundTrips} | ${ms(r.resume.storeP50Ms)} | |\n`;
  md += `| client reconnecting with \`Last-Event-ID\` (direct stream, paged replay) | ${r.resume.clientRoundTrips} | ${ms(r.resume.clientP50Ms)} | ${ms(r.resume.clientP99Ms)} |\n`;
  md += `| the same through a GRIP proxy (hold response) | ${r.resume.gripRoundTrips} | ${ms(r.resume.gripP50Ms)} | ${ms(r.resume.gripP99Ms)} |\n`;
  md += '\n### Bus publish → delivery\n\n';
  md += `One connection appends an event every ~1 ms (${r.bus.events} events); the bus, on its own subscriber connection, `;
  md += `delivers it to a sink in the same process: from the append call to the sink, p50 ${ms(r.bus.p50Ms)} ms, p99 ${ms(r.bus.p99Ms)} ms.\n`;
  if (r.latency) md += latencySection(r);
  if (r.interest) md += interestSection(r);
  md += '\n### Targets (issue 11)\n\n| target | measured | |\n|---|---|---|\n';
  if (r.latency) md += latencyTargetRow(r);
  md += `| ≥ 50,000 events/s through one Redis shard with batching | ${int(best)} events/s end to end (best row above); Redis itself ≈ ${int(ceiling)} events/s per core at batches ≥ 100 | ${best >= 50_000 ? '✅' : '❌ (clients share the 2 cores with Redis)'} |\n`;
  const worst = Math.max(r.resume.clientRoundTrips, r.resume.gripRoundTrips);
  md += `| resume of 1,000 events (10 channels) in ≤ 1 round trip per channel | ${r.resume.clientRoundTrips} round trips direct, ${r.resume.gripRoundTrips} through a proxy (store read alone: ${r.resume.storeRoundTrips}) | ${worst <= 10 ? '✅' : '❌'} |\n`;
  writeSection(file, 'redis', md);
  console.log(`wrote the Redis section of ${file}`);
}

/** The "publish → delivery" part of the report (part 5). */
function latencySection(r) {
  const m = r.latencyMethod;
  const ms = (x) => x.toFixed(2);
  let md = '\n### Publish → delivery to SSE clients, across processes and in-process\n\n';
  md += `Load average before this part: ${r.latencyLoadBefore.join(' / ')}, after: ${r.latencyLoadAfter.join(' / ')}. Method:\n\n`;
  md += `- ${m.clients} SSE clients (raw sockets, \`bench/lib/sse-client.mjs\`) in the benchmark's own process hold `;
  md += 'streams on one channel of an origin process (`createHandler()` on node:http, the built package). ';
  md += 'Every process is a separate `node` process; redis-server is private, loopback, no persistence.\n';
  md +=
    '- The publishing process calls `events.publish()` at a fixed rate, paced by a 1 ms timer (each tick ';
  md +=
    "publishes what is due since the last tick, at most 100 ms' worth, so a timer firing late on a loaded ";
  md +=
    'machine still sends the rate asked): 1 event per tick at 1k/s on a quiet machine, about 10 per tick at 10k/s (the core sends them as one batch).\n';
  md +=
    '- Latency is from the `publish()` call to the read that brought the event to a client: each event carries ';
  md +=
    '`process.hrtime()` of its publish (CLOCK_MONOTONIC on Linux, one clock for every process of the machine), ';
  md += `and the client subtracts it from its own at the read. Every (client, event) is a sample; the first ${m.warmMs} ms `;
  md += `of each run are not counted, then ${m.measureMs / 1000} s are; ${m.rounds} round(s), each running the setups `;
  md +=
    "in a rotated order. **p50 and p99 are the medians of the rounds' own percentiles**: the machine is shared, ";
  md +=
    'and one stall caused by another program in one round would move a p99 pooled over all samples (shown too, ';
  md +=
    'with the maximum) without saying anything about the path measured. Percentiles from a log histogram (±1 %).\n';
  md +=
    "- **lost / reordered**: events a client missed or got out of order (checked per client on the data's ";
  md +=
    'sequence); must be 0. CPU is user + system time of each process over the run, per event published.\n';
  md +=
    '- Setups: *in-process* rows publish and serve in one process; *cross-process*: process A only publishes ';
  md +=
    '(Redis history and bus, no clients), process B only serves the clients and gets the events through its Redis bus.\n\n';
  md +=
    '| setup | rate, events/s (sent) | deliveries | p50 ms | p99 ms | p99 of every sample, ms | max ms | lost / reordered | CPU µs per event: serving process | publishing process | redis-server |\n';
  md += '|---|---|---|---|---|---|---|---|---|---|---|\n';
  for (const x of r.latency) {
    const cross = x.setup === 'cross';
    md += `| ${x.label} | ${x.rate.toLocaleString('en-US')} (${Math.round(x.sentPerSec).toLocaleString('en-US')}) | ${x.deliveries.toLocaleString('en-US')} | ${ms(x.p50Ms)} | ${ms(x.p99Ms)} | ${ms(x.pooledP99Ms)} | ${ms(x.maxMs)} | ${x.lost} / ${x.reordered} | ${x.serveCpuUsPerEvent.toFixed(1)} | ${cross ? x.publishCpuUsPerEvent.toFixed(1) : '(same process)'} | ${x.redisCpuUsPerEvent ? x.redisCpuUsPerEvent.toFixed(1) : '—'} |\n`;
  }
  const at = (setup, rate) => r.latency.find((x) => x.setup === setup && x.rate === rate);
  const diff = (a, b) => `${a >= b ? '+' : ''}${(a - b).toFixed(2)}`;
  for (const rate of [...new Set(r.latency.map((x) => x.rate))]) {
    const [memory, local, cross] = ['memory-local', 'redis-local', 'cross'].map((k) => at(k, rate));
    if (!memory || !local || !cross) continue;
    md += `\nAt ${rate.toLocaleString('en-US')} events/s, crossing processes (A → Redis → B) adds ${diff(cross.p50Ms, local.p50Ms)} ms at p50 `;
    md += `and ${diff(cross.p99Ms, local.p99Ms)} ms at p99 to one process on the same Redis history; the Redis history itself `;
    md += `(one round trip to Redis before delivery, since the store assigns the ids) adds ${diff(local.p50Ms, memory.p50Ms)} ms `;
    md += `at p50 and ${diff(local.p99Ms, memory.p99Ms)} ms at p99 to the in-memory history.`;
  }
  md +=
    ' The tails are those of a 2-core machine running redis-server, both node processes, the clients and other jobs.\n';
  return md;
}

/** The latency target's row: cross-process p99 against in-process at 1k/s. */
function latencyTargetRow(r) {
  const at = (setup) => r.latency.find((x) => x.setup === setup && x.rate === 1000);
  const cross = at('cross');
  const local = at('redis-local');
  const bus = at('redis-bus');
  const memory = at('memory-local');
  if (!cross || !local) return '';
  const delta = cross.p99Ms - local.p99Ms;
  let md = `| cross-process p99 within 2 ms of in-process at 1k events/s | cross-process p99 ${cross.p99Ms.toFixed(2)} ms (median of the rounds; of every sample ${cross.pooledP99Ms.toFixed(2)} ms); in-process `;
  md += `${local.p99Ms.toFixed(2)} ms with the same Redis history and the default LocalBus (${delta >= 0 ? '+' : ''}${delta.toFixed(2)} ms)`;
  if (bus) md += `, ${bus.p99Ms.toFixed(2)} ms with the Redis bus in one process`;
  if (memory)
    md += `, ${memory.p99Ms.toFixed(2)} ms without Redis (${cross.p99Ms >= memory.p99Ms ? '+' : ''}${(cross.p99Ms - memory.p99Ms).toFixed(2)} ms)`;
  md += ` | ${delta <= 2 ? '✅' : '❌'} |\n`;
  return md;
}

/** Part 6: the per-channel subscriptions, sharded and classic. */
function interestSection(r) {
  let md = "\n### Who pays for a channel's traffic\n\n";
  md += 'Process A publishes on one channel; process B (Redis history and bus) serves 10 SSE clients on ';
  md += "another channel, then on the busy one. B's CPU (user + system) per second of each run, and how ";
  md += "many events B's bus received from Redis. On one redis-server, sharded and classic pub/sub both ";
  md += 'filter per channel (on a cluster, a classic PUBLISH also goes to every node).\n\n';
  md +=
    "| pub/sub | B's clients follow | published, events/s | B's CPU, ms per s | events B's bus received |\n";
  md += '|---|---|---|---|---|\n';
  for (const x of r.interest) {
    md += `| ${x.pubsub} | ${x.follows} | ${Math.round(x.publishedPerSec).toLocaleString('en-US')} | ${x.serveCpuMsPerSec.toFixed(1)} | ${x.busReceived.toLocaleString('en-US')} |\n`;
  }
  return md;
}
