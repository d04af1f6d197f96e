// Presence (issue 25), on a private Redis (the engine's control channel and state) and on the
// default in-process engine:
//   1. `events.presence(channel)` with 10,000 members held by another process: the first query
//      (the view's state read) and p50/p99 of sequential queries after it.
//   2. join → event across processes: a peer process opens member streams at a steady rate and
//      prints the monotonic time of each open; this process serves a watcher stream that asked for
//      notices and times each `presence-join` as it arrives on the watcher's socket. The stamps are
//      process.hrtime() (CLOCK_MONOTONIC on Linux: one clock for every process of the machine).
//   3. The same first/p99 query on MemoryState (one process, its own 10,000 streams).
// The peer opens streams through the namespace's subscriber watch, as a handler's accepted
// requests do, so 10,000 members cost no 10,000 sockets.
//
//   npm run build && node bench/presence.mjs [--members 10000] [--queries 500] [--joins 500] [--rate 200]
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Histogram } from './lib/hist.mjs';

const SELF = fileURLToPath(import.meta.url);
const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const CORE = Symbol.for('express-eventstream.core');

const { values: o } = parseArgs({
  options: {
    role: { type: 'string' },
    url: { type: 'string' },
    members: { type: 'string', default: '10000' },
    queries: { type: 'string', default: '500' },
    joins: { type: 'string', default: '500' },
    rate: { type: 'string', default: '200' },
  },
});

async function namespace(url) {
  const { events } = await import('../dist/index.js');
  const engine =
    url === undefined ? {} : (await import('../dist/redis.js')).redis({ url, namespace: 'presence' });
  const ev = events({ ...engine, presence: { ttlMs: 60_000 }, keepAlive: false });
  ev.on('error', (e) => process.stderr.write(`error: ${e.message}\n`));
  return { ev, watch: ev[CORE].subscriptions.watch };
}

/** Opens `count` streams of distinct members on `room` through the namespace's watch. */
function openMembers(watch, from, count, prefix) {
  for (let i = from; i < from + count; i++)
    watch.opened({
      key: `${prefix}-${i}`,
      channels: ['room'],
      member: { id: `user-${i}`, info: { name: `User ${i}` } },
    });
}

async function queryCosts(ev, members) {
  const firstStart = nowUs();
  let snapshot = await ev.presence('room');
  const first = (nowUs() - firstStart) / 1000;
  while (snapshot.count < members) {
    await new Promise((r) => setTimeout(r, 50));
    snapshot = await ev.presence('room');
  }
  const hist = new Histogram();
  for (let q = 0; q < 50; q++) await ev.presence('room'); // warm-up
  for (let q = 0; q < Number(o.queries); q++) {
    const started = nowUs();
    const s = await ev.presence('room');
    hist.add((nowUs() - started) / 1000);
    if (s.count !== members) throw new Error(`expected ${members} members, got ${s.count}`);
  }
  return { members, firstMs: first, p50Ms: hist.percentile(50), p99Ms: hist.percentile(99) };
}

if (o.role === 'peer') {
  const { ev, watch } = await namespace(o.url);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', async (line) => {
    const [command, a, b] = line.split(' ');
    if (command === 'members') {
      openMembers(watch, 0, Number(a), 'bulk');
      process.stdout.write('opened\n');
    } else if (command === 'joins') {
      const [count, rate] = [Number(a), Number(b)];
      const start = nowUs();
      for (let i = 0; i < count; i++) {
        const due = start + (i * 1e6) / rate;
        while (nowUs() < due) await new Promise((r) => setTimeout(r, 1));
        process.stdout.write(`t joiner-${i} ${nowUs()}\n`);
        watch.opened({ key: `join-${i}`, channels: ['room'], member: { id: `joiner-${i}` } });
      }
    }
  });
  lines.on('close', () => ev.close().then(() => process.exit(0)));
  process.stdout.write('ready\n');
} else {
  const members = Number(o.members);
  const { startRedis } = await import('../scripts/redis.mjs');
  const server = await startRedis();
  const results = {};
  try {
    const { ev } = await namespace(server.url);
    const { createHandler } = await import('../dist/index.js');
    const listener = createHandler({ events: ev, presence: () => ({ id: 'watcher', events: true }) });
    const web = http.createServer(listener);
    await new Promise((r) => web.listen(0, '127.0.0.1', r));
    const peer = spawn(process.execPath, [SELF, '--role', 'peer', '--url', server.url], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const stamps = new Map();
    const peerLines = createInterface({ input: peer.stdout });
    const waitLine = (want) => new Promise((r) => peerLines.on('line', (l) => l === want && r()));
    peerLines.on('line', (l) => {
      const m = /^t (\S+) (\d+)$/.exec(l);
      if (m) stamps.set(m[1], Number(m[2]));
    });
    await waitLine('ready');
    peer.stdin.write(`members ${members}\n`);
    await waitLine('opened');
    results.redis = await queryCosts(ev, members + 0);
    // The watcher: one stream here that asked for notices.
    const joins = new Histogram();
    const total = Number(o.joins);
    const joined = new Promise((resolve) => {
      http.get(
        `http://127.0.0.1:${web.address().port}/?channel=room`,
        { headers: { accept: 'text/event-stream' } },
        (res) => {
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk) => {
            const at = nowUs();
            buffer += chunk;
            let cut = buffer.indexOf('\n\n');
            while (cut !== -1) {
              const block = buffer.slice(0, cut);
              buffer = buffer.slice(cut + 2);
              cut = buffer.indexOf('\n\n');
              if (!block.includes('event: presence-join')) continue;
              const id = /"id":"(joiner-\d+)"/.exec(block)?.[1];
              if (id !== undefined && stamps.has(id)) joins.add((at - stamps.get(id)) / 1000);
              if (joins.n === total) resolve(res.destroy());
            }
          });
        },
      );
    });
    await new Promise((r) => setTimeout(r, 500)); // the watcher's stream is open (no bench wait on this)
    peer.stdin.write(`joins ${total} ${o.rate}\n`);
    await joined;
    results.joinToEvent = {
      joins: total,
      rate: Number(o.rate),
      p50Ms: joins.percentile(50),
      p99Ms: joins.percentile(99),
    };
    peer.stdin.end();
    await new Promise((r) => peer.once('exit', r));
    web.closeAllConnections();
    web.close();
    await ev.close();
  } finally {
    await server.stop();
  }
  const local = await namespace(undefined);
  openMembers(local.watch, 0, members, 'local');
  results.memory = await queryCosts(local.ev, members);
  await local.ev.close();
  console.log(JSON.stringify(results, null, 1));
}
