// The PostgreSQL engine against the Redis engine, side by side in one run on this machine (issue
// 21), each on its own private server (scripts/postgres.mjs, scripts/redis.mjs):
//   1. highest sustained batched publish rate: one process, `events({ ...engine })`, waves of
//      publish() calls (the pipeline group-commits what a tick brings), one SSE client following;
//      with the database round trips (Postgres: statements sent by this process; Redis: commands
//      the server processed) and CPU (this process, the server) per event;
//   2. the same for publishes awaited one at a time (the cost of a lone publish);
//   3. publish → delivery p50/p99 across processes at 1,000 events/s (bench/redis-latency.mjs'
//      harness: process A publishes, process B serves 10 SSE clients);
//   4. a resume of 1,000 events on 10 channels: the store's read, and a whole SSE resume (round
//      trips from the request until the client has every event).
//
//   npm run build && node bench/postgres.mjs [--seconds 5] [--report BENCHMARKS.md]
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { measureLatency } from './redis-latency.mjs';

const { values: o } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    wave: { type: 'string', default: '5000' },
    report: { type: 'string' },
    // Which parts to run (a comma list): rate, resume, latency.
    parts: { type: 'string', default: 'rate,resume,latency' },
  },
});
const PARTS = new Set(o.parts.split(','));
const SECONDS = Number(o.seconds);
const WAVE = Number(o.wave);
const { events, createHandler } = await import('../dist/index.js');
const { postgres, postgresStore } = await import('../dist/postgres.js');
const { redis, redisStore } = await import('../dist/redis.js');
const { startPostgres } = await import('../scripts/postgres.mjs');
const { startRedis } = await import('../scripts/redis.mjs');

// Round trips of this process to Postgres: every query a pg Client sends (pools use Clients).
let pgQueries = 0;
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function counted(...args) {
  pgQueries++;
  return query.apply(this, args);
};

/** CPU ms of a process (and, for Postgres' postmaster, of its backends, live and ended). */
function cpuMs(pid, withChildren = false) {
  const ticks = (p, reaped) => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0);
    } catch {
      return 0;
    }
  };
  let total = ticks(pid, withChildren);
  if (withChildren) {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
    for (const c of children) if (c) total += ticks(c, false);
  }
  return total * 10; // USER_HZ = 100
}

function engines(pgServer, redisServer) {
  return [
    {
      name: 'Postgres',
      make: (ns) => postgres({ url: pgServer.url, namespace: ns, maxEventsPerChannel: 10_000 }),
      // The history alone: a resume needs no bus, and a bus' background reads would be counted.
      history: (ns) => ({
        history: postgresStore({ url: pgServer.url, namespace: ns, maxEventsPerChannel: 10_000 }),
      }),
      ops: () => pgQueries,
      serverCpu: () => cpuMs(pgServer.pid, true),
    },
    {
      name: 'Redis',
      make: (ns) => redis({ url: redisServer.url, namespace: ns, maxEventsPerChannel: 10_000 }),
      history: (ns) => ({
        history: redisStore({ url: redisServer.url, namespace: ns, maxEventsPerChannel: 10_000 }),
      }),
      // Minus the INFO command itself.
      ops: () => Number(/total_commands_processed:(\d+)/.exec(redisServer.cli('INFO', 'stats'))[1]) - 1,
      serverCpu: () => cpuMs(redisServer.pid),
    },
  ];
}

/** A served events() and SSE clients that count `event: n` per connection. */
async function served(engine, ns, historyOnly = false) {
  const setup = historyOnly ? engine.history(ns) : engine.make(ns);
  const ev = events({ ...setup, keepAlive: false });
  ev.on('error', (e) => process.stderr.write(`${engine.name}: ${e.message}\n`));
  const handler = createHandler({ events: ev });
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const follow = (path, headers = {}) =>
    new Promise((resolve) => {
      const c = { received: 0, lastId: undefined, open: false, req: undefined };
      let buffer = '';
      c.req = http.get(
        `http://127.0.0.1:${server.address().port}${path}`,
        { headers: { accept: 'text/event-stream', ...headers }, agent: false },
        (res) => {
          res.setEncoding('utf8');
          res.on('data', (chunk) => {
            buffer += chunk;
            let end = buffer.indexOf('\n\n');
            while (end !== -1) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              end = buffer.indexOf('\n\n');
              if (block.includes('event: stream-open')) {
                c.open = true;
                resolve(c);
              }
              if (block.includes('event: n')) {
                c.received++;
                c.lastId = /^id: (.*)$/m.exec(block)?.[1];
              }
            }
          });
        },
      );
      c.req.on('error', () => {});
    });
  const close = async () => {
    server.closeAllConnections();
    server.close();
    await ev.close();
    if (historyOnly) await setup.history.close();
  };
  return { ev, history: setup.history, follow, close };
}

const until = async (check, ms, what) => {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** Publishes for SECONDS (waves of WAVE calls, or one at a time); events/s, ops and CPU per event. */
async function publishRate(engine, ns, wave) {
  const s = await served(engine, ns);
  const client = await s.follow('/?channel=b');
  const body = {
    event: 'n',
    data: { text: 'an event of about a hundred bytes, as a chat message or a status update' },
  };
  for (let i = 0; i < 200; i++) await s.ev.publish('b', body); // warm
  await until(() => client.received >= 200, 10_000, 'warm-up delivered');
  const ops0 = engine.ops();
  const server0 = engine.serverCpu();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let sent = 0;
  const latency = [];
  while (performance.now() - t0 < SECONDS * 1000) {
    if (wave === 1) {
      const t = performance.now();
      await s.ev.publish('b', body);
      latency.push(performance.now() - t);
      sent++;
    } else {
      await Promise.all(Array.from({ length: wave }, () => s.ev.publish('b', body)));
      sent += wave;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const ops = engine.ops() - ops0;
  const cpu = process.cpuUsage(cpu0);
  const serverCpu = engine.serverCpu() - server0;
  await until(() => client.received >= 200 + sent, 60_000, 'every event delivered');
  await s.close();
  latency.sort((a, b) => a - b);
  return {
    perSec: sent / seconds,
    opsPerEvent: ops / sent,
    cpuUsPerEvent: (cpu.user + cpu.system) / sent,
    serverCpuUsPerEvent: (serverCpu * 1000) / sent,
    publishP50Ms: latency.length > 0 ? latency[Math.floor(latency.length / 2)] : undefined,
  };
}

/** 1,000 events on 10 channels after a client's position: the store's read and a whole SSE resume. */
async function resume(engine, ns) {
  const s = await served(engine, ns, true);
  const channels = Array.from({ length: 10 }, (_, i) => `r${i}`);
  const path = `/?${channels.map((c) => `channel=${c}`).join('&')}`;
  const first = await s.follow(path);
  await s.ev.publish('r0', { event: 'n', data: 0 });
  await until(() => first.received === 1, 10_000, 'position event');
  first.req.destroy();
  await Promise.all(
    Array.from({ length: 1000 }, (_, i) => s.ev.publish(channels[i % 10], { event: 'n', data: i })),
  );
  const afterSeq = Number(first.lastId.split('-')[1]);
  let ops0 = engine.ops();
  const read = await s.history.readAfter(channels, afterSeq, 1000);
  const storeOps = engine.ops() - ops0;
  if (read.records.length !== 1000) throw new Error(`${engine.name}: read ${read.records.length} events`);
  ops0 = engine.ops();
  const t0 = performance.now();
  const again = await s.follow(path, { 'last-event-id': first.lastId });
  await until(() => again.received === 1000, 30_000, 'the resume');
  const ms = performance.now() - t0;
  const sseOps = engine.ops() - ops0;
  again.req.destroy();
  await s.close();
  return { storeOps, sseOps, ms };
}

const pgServer = await startPostgres();
const redisServer = await startRedis();
const rows = {};
try {
  for (const engine of engines(pgServer, redisServer)) {
    const row = {};
    if (PARTS.has('rate')) {
      console.log(`${engine.name}: batched publish…`);
      row.batched = await publishRate(engine, `batched${engine.name}`, WAVE);
      console.log(`${engine.name}: one publish at a time…`);
      row.single = await publishRate(engine, `single${engine.name}`, 1);
    }
    if (PARTS.has('resume')) {
      console.log(`${engine.name}: resume…`);
      row.resumed = await resume(engine, `resume${engine.name}`);
    }
    rows[engine.name] = row;
    console.log(JSON.stringify(rows[engine.name]));
  }
  const latencyOf = async (name, url, pid, withChildren, history) => {
    console.log(`${name}: cross-process latency at 1,000 events/s…`);
    const [row] = await measureLatency({
      redisUrl: url,
      redisPid: pid,
      cpuMs: (p) => cpuMs(p, withChildren),
      rates: [1000],
      rounds: 2,
      setups: ['cross'],
      catalog: [
        {
          key: 'cross',
          label: `two processes: A publishes, B serves the clients (${name} engine)`,
          procs: [
            { role: 'serve', history, bus: history },
            { role: 'publish', history, bus: history },
          ],
        },
      ],
    });
    return row;
  };
  if (PARTS.has('latency')) {
    rows.Postgres.latency = await latencyOf('Postgres', pgServer.url, pgServer.pid, true, 'postgres');
    rows.Redis.latency = await latencyOf('Redis', redisServer.url, redisServer.pid, false, 'redis');
  }
} finally {
  await Promise.all([pgServer.stop(), redisServer.stop()]);
}

console.log(JSON.stringify(rows));
if (PARTS.size === 3) {
  const text = render(rows);
  console.log(text);
  if (o.report) writeReport(o.report, text);
}

function render(r) {
  const [p, q] = [r.Postgres, r.Redis];
  const n0 = (v) => Math.round(v).toLocaleString('en-US');
  const n2 = (v) => v.toFixed(2);
  const row = (label, f, target = '') => `| ${label} | ${f(p)} | ${f(q)} | ${target} |`;
  return [
    '### PostgreSQL engine against the Redis engine (issue 21)',
    '',
    `\`node bench/postgres.mjs\`: private servers (scripts/postgres.mjs, fsync off as in the tests;`,
    'scripts/redis.mjs), `events({ ...postgres(url) })` and `events({ ...redis(url) })` as an',
    `application spreads them. Batched: waves of ${WAVE} \`publish()\` calls for ${SECONDS} s, one SSE client`,
    'following (every event delivered). Round trips: Postgres, statements this process sent (appends,',
    'bus reads, sequencer, retention); Redis, commands the server processed. Latency: process A',
    'publishes at 1,000 events/s, process B serves 10 clients; median of 2 rounds of 5 s.',
    '',
    '| measure | Postgres | Redis | target |',
    '|---|---|---|---|',
    row('batched publish, events/s', (x) => n0(x.batched.perSec), '≥ 20,000 (Postgres)'),
    row('batched: round trips per event', (x) => n2(x.batched.opsPerEvent)),
    row(
      'batched: CPU per event, publishing process / server (µs)',
      (x) => `${n2(x.batched.cpuUsPerEvent)} / ${n2(x.batched.serverCpuUsPerEvent)}`,
    ),
    row('one publish at a time, events/s', (x) => n0(x.single.perSec)),
    row('one at a time: round trips per publish', (x) => n2(x.single.opsPerEvent)),
    row(
      'one at a time: CPU per publish, process / server (µs)',
      (x) => `${n0(x.single.cpuUsPerEvent)} / ${n0(x.single.serverCpuUsPerEvent)}`,
    ),
    row('one at a time: publish() p50 (ms)', (x) => n2(x.single.publishP50Ms)),
    row('across processes: events/s asked / sent', (x) => `1,000 / ${n0(x.latency.sentPerSec)}`),
    row(
      'across processes at 1,000/s: p50 / p99 (ms)',
      (x) => `${n2(x.latency.p50Ms)} / ${n2(x.latency.p99Ms)}`,
      'p99 ≤ 50 ms (Postgres)',
    ),
    row('across processes at 1,000/s: lost / reordered', (x) => `${x.latency.lost} / ${x.latency.reordered}`),
    row(
      'across processes: CPU per event, serving / publishing / server (µs)',
      (x) =>
        `${n0(x.latency.serveCpuUsPerEvent)} / ${n0(x.latency.publishCpuUsPerEvent)} / ${n0(x.latency.redisCpuUsPerEvent)}`,
    ),
    row(
      'resume of 1,000 events on 10 channels: the store read, round trips',
      (x) => String(x.resumed.storeOps),
      '≤ 2 (Postgres)',
    ),
    row(
      'the same as an SSE resume: round trips / ms to the last event',
      (x) => `${x.resumed.sseOps} / ${n0(x.resumed.ms)}`,
    ),
  ].join('\n');
}

/** Replaces (or appends) the section in the report file. */
function writeReport(file, text) {
  const heading = text.split('\n')[0];
  const old = readFileSync(file, 'utf8');
  const start = old.indexOf(heading);
  if (start === -1) {
    writeFileSync(file, `${old.trimEnd()}\n\n${text}\n`);
    return;
  }
  const rest = old.slice(start + heading.length);
  const next = rest.search(/\n#{1,3} /);
  const end = next === -1 ? old.length : start + heading.length + next;
  writeFileSync(file, `${old.slice(0, start)}${text}\n${old.slice(end)}`);
}
