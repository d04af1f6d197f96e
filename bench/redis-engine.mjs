// The Redis engine's control channel and shared state (issue 20 item 2), on a private Redis:
//   1. control message latency between two processes: a peer process (this file, --role peer)
//      sends timestamped messages at a steady rate; this process receives them. The stamp is
//      process.hrtime() (CLOCK_MONOTONIC on Linux: one clock for every process of the machine),
//      so send() call → handler call, one way, across processes.
//   2. state.count() and state.entries() on a scope of 10,000 members: p50/p99 of sequential calls.
//   3. state.put() throughput: sequential (one in flight) and with 100 in flight.
//
//   npm run build && node bench/redis-engine.mjs [--messages 5000] [--rate 1000] [--report BENCHMARKS.md]
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Histogram } from './lib/hist.mjs';

const SELF = fileURLToPath(import.meta.url);
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

const { values: o } = parseArgs({
  options: {
    role: { type: 'string' },
    url: { type: 'string' },
    ns: { type: 'string', default: 'engine' },
    messages: { type: 'string', default: '5000' },
    rate: { type: 'string', default: '1000' },
    members: { type: 'string', default: '10000' },
    report: { type: 'string' },
  },
});

async function engineOf(url, ns) {
  const { events } = await import('../dist/index.js');
  const { redis } = await import('../dist/redis.js');
  const ev = events({ ...redis({ url, namespace: ns }), keepAlive: false });
  ev.on('error', (e) => process.stderr.write(`error: ${e.message}\n`));
  return { ev, engine: ev[Symbol.for('express-eventstream.core')].engine };
}

/** Waits until `control` hears its own message: the subscription is in place. */
async function subscribed(control) {
  let heard = false;
  const token = `${process.pid}-${Math.random()}`;
  const off = control.on('hello', (p) => {
    if (p === token) heard = true;
  });
  while (!heard) {
    await control.send('hello', token).catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  off();
}

if (o.role === 'peer') {
  // The sending process: waits for `go`, then sends `messages` stamped messages at `rate`/s.
  const { ev, engine } = await engineOf(o.url, o.ns);
  await subscribed(engine.control);
  engine.control.on('go', async ({ messages, rate }) => {
    const start = nowUs();
    for (let i = 0; i < messages; i++) {
      const due = start + (i * 1e6) / rate;
      while (nowUs() < due) await new Promise((resolve) => setTimeout(resolve, 1));
      void engine.control.send('lat', { i, t: nowUs() });
    }
  });
  process.stdout.write('ready\n');
  createInterface({ input: process.stdin }).on('close', () => ev.close().then(() => process.exit(0)));
} else {
  await main();
}

async function main() {
  const { startRedis } = await import('../scripts/redis.mjs');
  const server = await startRedis();
  const results = {};
  try {
    const { ev, engine } = await engineOf(server.url, o.ns);
    await subscribed(engine.control);
    results.control = await controlLatency(server.url, engine.control);
    results.state = await stateCosts(engine.state);
    await ev.close();
  } finally {
    await server.stop();
  }
  const text = render(results);
  process.stdout.write(`${text}\n`);
  if (o.report) writeReport(o.report, text);
}

async function controlLatency(url, control) {
  const messages = Number(o.messages);
  const rate = Number(o.rate);
  const peer = spawn(process.execPath, [SELF, '--role', 'peer', '--url', url, '--ns', o.ns], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise((resolve) => {
    createInterface({ input: peer.stdout }).on('line', (line) => line === 'ready' && resolve());
  });
  const hist = new Histogram();
  let next = 0;
  let outOfOrder = 0;
  const done = new Promise((resolve) => {
    control.on('lat', ({ i, t }) => {
      hist.add((nowUs() - t) / 1000);
      if (i !== next) outOfOrder++;
      next = i + 1;
      if (hist.n === messages) resolve();
    });
  });
  await control.send('go', { messages, rate });
  await done;
  peer.stdin.end();
  await new Promise((resolve) => peer.once('exit', resolve));
  return { messages, rate, p50: hist.percentile(50), p99: hist.percentile(99), max: hist.max, outOfOrder };
}

async function stateCosts(state) {
  const members = Number(o.members);
  const scope = 'bench';
  // put throughput, one in flight, then 100 in flight (members at once).
  let t0 = performance.now();
  const sequential = Math.min(members, 2000);
  for (let i = 0; i < sequential; i++) await state.put('seq', `m${i}`, `{"n":${i}}`, 600_000);
  const putSequential = sequential / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  let i = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (i < members) {
        const k = i++;
        await state.put(scope, `m${k}`, `{"n":${k}}`, 600_000);
      }
    }),
  );
  const putConcurrent = members / ((performance.now() - t0) / 1000);
  const count = new Histogram();
  const entries = new Histogram();
  for (let r = 0; r < 200; r++) {
    let t = performance.now();
    const n = await state.count(scope);
    count.add(performance.now() - t);
    if (n !== members) throw new Error(`count ${n}, expected ${members}`);
    if (r % 4 === 0) {
      t = performance.now();
      const all = await state.entries(scope);
      entries.add(performance.now() - t);
      if (all.length !== members) throw new Error(`entries ${all.length}, expected ${members}`);
    }
  }
  return { members, putSequential, putConcurrent, count, entries };
}

function render({ control: c, state: s }) {
  const ms = (v) => `${v.toFixed(2)} ms`;
  return [
    '### Control messages and shared state (issue 20)',
    '',
    '`node bench/redis-engine.mjs`: one private Redis, `redis()` as an application spreads it;',
    'latency is `send()` in the peer process → the handler in this one (one monotonic clock).',
    '',
    '| measure | value |',
    '|---|---|',
    `| control latency between two processes, ${c.messages} messages at ${c.rate}/s: p50 / p99 / max | ${ms(c.p50)} / ${ms(c.p99)} / ${ms(c.max)} |`,
    `| control messages out of the sender's order | ${c.outOfOrder} |`,
    `| \`state.count()\`, ${s.members} members: p50 / p99 | ${ms(s.count.percentile(50))} / ${ms(s.count.percentile(99))} |`,
    `| \`state.entries()\`, ${s.members} members: p50 / p99 | ${ms(s.entries.percentile(50))} / ${ms(s.entries.percentile(99))} |`,
    `| \`state.put()\` throughput, one in flight | ${Math.round(s.putSequential)}/s |`,
    `| \`state.put()\` throughput, 100 in flight | ${Math.round(s.putConcurrent)}/s |`,
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
