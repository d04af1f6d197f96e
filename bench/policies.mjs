// Filters and overload policies (issue 25), on the built package (`dist/`). Three processes: this
// one (the driver, and the slow client of part 2), the server (`--role server`, a child) and the
// load generator (`--role gen`, a child holding the readers' sockets).
//   1. Filter cost per event: 10,000 SSE streams on one channel, their filters drawn from 1 / 100 /
//      10,000 distinct keys; the server publishes events no filter accepts (so nothing is written and
//      what is left is the filters' cost) and reports its CPU µs per event and how many times a
//      `match` ran per event (the bench wraps every `match` in a counter).
//   2. Bytes sent to a slow client under each policy: a client that stops reading its socket for
//      --stall seconds while the channel publishes, then reads again; what it received against what
//      was published during its stream, with the `stream-missed` counts.
//   3. The other readers' p99 latency (200 readers, 2,000 events/s) with that client stalled under each
//      policy, against a window without it on the same server just before (target: < 10 % change).
//      Each event carries its publish time (process.hrtime: one monotonic clock for every process).
//
//   npm run build && node bench/policies.mjs [--clients 10000] [--readers 200] [--rate 2000]
//                                            [--stall 8] [--window 6] [--report BENCHMARKS.md]
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Histogram } from './lib/hist.mjs';
import { writeSection } from './lib/sections.mjs';

const SELF = fileURLToPath(import.meta.url);
const MAX_BUFFER = 256 * 1024;
const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const load = () =>
  execFileSync('uptime', { encoding: 'utf8' })
    .trim()
    .replace(/^.*load average:\s*/, '');

const { values: o } = parseArgs({
  options: {
    role: { type: 'string' },
    url: { type: 'string' },
    count: { type: 'string' },
    distinct: { type: 'string' },
    clients: { type: 'string', default: '10000' },
    readers: { type: 'string', default: '200' },
    rate: { type: 'string', default: '2000' },
    stall: { type: 'string', default: '8' },
    window: { type: 'string', default: '6' },
    report: { type: 'string' },
  },
});

// ---------------------------------------------------------------------------------------------
// The server: POLICY (disconnect | drop-oldest | conflate), MAX_BUFFER.
//   GET  /?channel=C[&f=KEY]   a stream; with f, a filter of key f accepting events whose g is f
//   POST /burst?n=N            publishes N events on `all` that no filter accepts (g: -1), in
//                              slices of 100 between turns of the event loop; answers the CPU µs and
//                              match calls they took
//   POST /start?rate=R         publishes `tick` {i, k, t, pad} on `ticker` at R/s (t: publish µs)
//   POST /stop                 stops; answers {published}
//   GET  /stats                {connections, slow, published, backlog}: backlog is the most bytes
//                              node holds for one socket (its kernel buffers full)
async function server() {
  const lib = await import('../dist/index.js');
  const policy = process.env.POLICY ?? 'disconnect';
  const overload =
    policy === 'conflate'
      ? { conflate: (event) => event.json()?.k }
      : policy === 'drop-oldest'
        ? policy
        : undefined;
  const ev = lib.events({
    history: false,
    keepAlive: false,
    maxBufferBytes: MAX_BUFFER,
    ...(overload !== undefined && { overload }),
  });
  ev.on('error', (e) => process.stderr.write(`events: ${e.message}\n`));
  let slow = 0;
  ev.on('disconnect', (d) => {
    if (d.reason === 'slow') slow++;
  });
  let matches = 0;
  const handler = lib.createHandler({
    events: ev,
    filter: (req) => {
      const f = new URL(req.url ?? '/', 'http://x').searchParams.get('f');
      if (f === null) return undefined;
      const g = Number(f);
      return {
        key: `g=${f}`,
        match: (event) => {
          matches++;
          return event.json()?.g === g;
        },
      };
    },
  });
  let published = 0;
  let timer;
  const pad = 'x'.repeat(120);
  const json = (res, value) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };
  const srv = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname === '/burst') {
      const n = Number(url.searchParams.get('n') ?? 1000);
      const m0 = matches;
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i += 100) {
        for (let j = i; j < Math.min(n, i + 100); j++) ev.publish('all', { event: 'x', data: { g: -1, j } });
        await new Promise((r) => setImmediate(r));
      }
      const c = process.cpuUsage(c0);
      return json(res, { cpuUs: c.user + c.system, matches: matches - m0 });
    }
    if (req.method === 'POST' && url.pathname === '/start') {
      const rate = Number(url.searchParams.get('rate') ?? 2000);
      const began = performance.now();
      const base = published;
      timer = setInterval(() => {
        const due = base + Math.floor(((performance.now() - began) * rate) / 1000);
        while (published < due) {
          const t = nowUs();
          ev.publish('ticker', { event: 'tick', data: { i: published, k: `S${published % 50}`, t, pad } });
          published++;
        }
      }, 10);
      return json(res, { started: true });
    }
    if (req.method === 'POST' && url.pathname === '/stop') {
      clearInterval(timer);
      return json(res, { published });
    }
    if (url.pathname === '/stats') {
      let backlog = 0;
      for (const socket of sockets) backlog = Math.max(backlog, socket.writableLength);
      return json(res, { connections: ev.stats().connections, slow, published, backlog });
    }
    handler(req, res);
  });
  const sockets = new Set();
  srv.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  srv.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${srv.address().port}\n`));
  process.stdin.resume();
  process.stdin.on('end', async () => {
    clearInterval(timer);
    await ev.close();
    srv.closeAllConnections();
    srv.close(() => process.exit(0));
  });
}

// ---------------------------------------------------------------------------------------------
// The load generator: --count raw SSE streams to --url (with --distinct, stream c asks for filter
// c % distinct). Prints "ready" once every stream has its first bytes. Stdin lines: "mark" starts
// a latency window, "report" prints "report {json}" (p50/p99 of tick latencies since the mark,
// streams ended).
async function gen() {
  const target = new URL(o.url);
  const count = Number(o.count);
  const distinct = o.distinct === undefined ? 0 : Number(o.distinct);
  let started = 0;
  let ended = 0;
  let hist = new Histogram();
  const sockets = [];
  const TIME = /"t":(\d+)/g;
  const openOne = (c) =>
    new Promise((resolve) => {
      const socket = net.connect(Number(target.port), target.hostname);
      sockets.push(socket);
      const path = `${target.pathname}${target.search}${distinct ? `&f=${c % distinct}` : ''}`;
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${target.host}\r\nAccept: text/event-stream\r\n\r\n`);
      let first = true;
      let tail = '';
      socket.on('data', (chunk) => {
        if (first) {
          first = false;
          started++;
          resolve();
        }
        const now = nowUs();
        const text = tail + chunk.toString('latin1');
        const cut = text.lastIndexOf('\n\n');
        tail = cut < 0 ? text : text.slice(cut + 2);
        if (cut < 0) return;
        for (const m of text.slice(0, cut).matchAll(TIME)) hist.add((now - Number(m[1])) / 1000);
      });
      socket.on('error', () => resolve());
      socket.on('close', () => {
        ended++;
        resolve();
      });
    });
  // 200 lanes, each opening its next stream once the previous one has its first bytes: the
  // server's accept queue is not the thing measured
  let nextC = 0;
  const lane = async () => {
    while (nextC < count) await openOne(nextC++);
  };
  await Promise.all(Array.from({ length: Math.min(200, count) }, lane));
  process.stdout.write(`ready ${started} ${ended}\n`);
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      if (line === 'mark') hist = new Histogram();
      if (line === 'report') process.stdout.write(`report ${JSON.stringify({ ...hist.summary(), ended })}\n`);
    })
    .on('close', () => {
      for (const s of sockets) s.destroy();
      process.exit(0);
    });
}

// ---------------------------------------------------------------------------------------------
// The driver.
function child(args, env = {}) {
  const proc = spawn(process.execPath, [SELF, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: proc.stdout });
  const exited = new Promise((r) => proc.once('exit', r));
  const next = (prefix) =>
    new Promise((resolve, reject) => {
      const onLine = (l) => {
        if (!l.startsWith(prefix)) return;
        lines.off('line', onLine);
        proc.off('exit', onExit);
        resolve(l.slice(prefix.length).trim());
      };
      const onExit = (code) => reject(new Error(`${args.join(' ')} exited (${code}) before "${prefix}"`));
      lines.on('line', onLine);
      proc.once('exit', onExit);
    });
  return {
    proc,
    next,
    send: (line) => proc.stdin.write(`${line}\n`),
    stop: async () => {
      proc.stdin.end();
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function startServer(policy) {
  const s = child(['--role', 'server'], { POLICY: policy });
  const port = Number(await s.next('listening'));
  const url = `http://127.0.0.1:${port}`;
  const call = async (method, path) => await (await fetch(`${url}${path}`, { method })).json();
  return { ...s, url, call };
}

async function until(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function filterCost(clients) {
  const server = await startServer('disconnect');
  const rows = [];
  try {
    for (const distinct of [1, 100, clients]) {
      const t0 = Date.now();
      const g = child([
        '--role',
        'gen',
        '--url',
        `${server.url}/?channel=all`,
        '--count',
        String(clients),
        '--distinct',
        String(distinct),
      ]);
      const [started] = (await g.next('ready')).split(' ').map(Number);
      const openS = (Date.now() - t0) / 1000;
      await until(
        async () => (await server.call('GET', '/stats')).connections === clients,
        60_000,
        'streams',
      );
      await server.call('POST', '/burst?n=200'); // warm-up: the filter path compiled
      const n = 2000;
      const r = await server.call('POST', `/burst?n=${n}`);
      const row = {
        distinct,
        clients: started,
        openS,
        cpuUsPerEvent: r.cpuUs / n,
        matchesPerEvent: r.matches / n,
        load: load(),
      };
      rows.push(row);
      process.stdout.write(`filters ${JSON.stringify(row)}\n`);
      await g.stop();
      await until(
        async () => (await server.call('GET', '/stats')).connections === 0,
        60_000,
        'streams closed',
      );
    }
  } finally {
    await server.stop();
  }
  return rows;
}

/** A stream that reads its head, stops reading, and reads again on resume(). */
function slowClient(url) {
  const target = new URL(url);
  const socket = net.connect(Number(target.port), target.hostname);
  socket.write(`GET /?channel=ticker HTTP/1.1\r\nHost: ${target.host}\r\nAccept: text/event-stream\r\n\r\n`);
  const s = { bytes: 0, ticks: 0, lastI: -1, missed: 0, conflated: 0, closed: false, tail: '' };
  const opened = new Promise((r) => socket.once('data', r));
  socket.on('data', (chunk) => {
    s.bytes += chunk.length;
    const text = s.tail + chunk.toString('latin1');
    const cut = text.lastIndexOf('\n\n');
    s.tail = cut < 0 ? text : text.slice(cut + 2);
    if (cut < 0) return;
    for (const block of text.slice(0, cut).split('\n\n')) {
      if (block.includes('event: tick')) {
        s.ticks++;
        const m = /"i":(\d+)/.exec(block);
        if (m) s.lastI = Number(m[1]);
      } else if (block.includes('event: stream-missed')) {
        const d = JSON.parse(block.slice(block.indexOf('data: ') + 6));
        s.missed += d.missed ?? 0;
        s.conflated += d.conflated ?? 0;
      }
    }
  });
  socket.on('error', () => {});
  socket.on('close', () => (s.closed = true));
  return {
    s,
    opened,
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    destroy: () => socket.destroy(),
  };
}

const window = async (g, seconds) => {
  g.send('mark');
  const t = Date.now();
  await until(async () => Date.now() - t >= seconds * 1000, seconds * 1000 + 5000, 'window');
  g.send('report');
  return JSON.parse(await g.next('report'));
};

async function policyRun(policy, readers, rate, stallS, windowS) {
  const server = await startServer(policy);
  const g = child(['--role', 'gen', '--url', `${server.url}/?channel=ticker`, '--count', String(readers)]);
  try {
    await g.next('ready');
    await server.call('POST', `/start?rate=${rate}`);
    await until(async () => (await server.call('GET', '/stats')).published >= rate, 30_000, 'one second');
    await window(g, windowS); // warm-up (compilation, the readers' buffers), not counted
    // two windows without the slow client: how much the p99 moves with nothing changed (the noise)
    const calmA = await window(g, windowS);
    const calm = await window(g, windowS);
    const calmLoad = load();
    const c = slowClient(server.url);
    await c.opened;
    const from = (await server.call('GET', '/stats')).published;
    c.pause();
    // the kernel's buffers for the client fill first (MBs on loopback); the policy acts on what
    // node holds once they are full
    const kernelFull = await until(
      async () => {
        const s = await server.call('GET', '/stats');
        return (s.backlog >= MAX_BUFFER / 4 || s.slow > 0) && s;
      },
      120_000,
      `the slow client's kernel buffers to fill (${policy})`,
    );
    const t = Date.now();
    const stalled = await window(g, Math.min(windowS, stallS));
    await until(async () => Date.now() - t >= stallS * 1000, stallS * 1000 + 5000, 'the stall');
    const stalledLoad = load();
    c.resume();
    const { published } = await server.call('POST', '/stop');
    await until(
      () => c.s.closed || c.s.lastI === published - 1,
      60_000,
      `the slow client to catch up (${policy})`,
    );
    const stats = await server.call('GET', '/stats');
    c.destroy();
    return {
      policy,
      calmA,
      calm,
      stalled,
      calmLoad,
      stalledLoad,
      slow: {
        ...c.s,
        tail: undefined,
        published: published - from,
        beforeFull: kernelFull.published - from,
        cut: c.s.closed,
        slowCuts: stats.slow,
      },
      readersEnded: stalled.ended,
    };
  } finally {
    await g.stop();
    await server.stop();
  }
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '—');
const pct = (from, to) => `${f1((100 * (to - from)) / from)} %`;
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');

function render(o_, filters, policies) {
  const lines = [
    '## Filters and overload policies (issue 25)',
    '',
    `\`npm run bench:policies\` (\`node bench/policies.mjs\`): the server and the load generator are child processes on \`dist/\`; ${new Date().toISOString().slice(0, 10)}.`,
    '',
    `### Filter cost per event (${o_.clients} streams on one channel)`,
    '',
    "Events no filter accepts (nothing written): what is left is the filters' cost. `match` calls are counted by a wrapper in the server. The CPU with 1 and 100 distinct filters is mostly the walk over the channel's 10,000 streams; with 10,000 it adds 10,000 `match` calls (the event's JSON is parsed once and shared).",
    '',
    '| distinct filters | streams | open all (s) | `match` calls / event | server CPU µs / event | load (1/5/15 min) |',
    '|---:|---:|---:|---:|---:|---|',
    ...filters.map(
      (r) =>
        `| ${r.distinct} | ${r.clients} | ${f1(r.openS)} | ${f1(r.matchesPerEvent)} | ${f1(r.cpuUsPerEvent)} | ${r.load} |`,
    ),
    '',
    `### A slow client under each policy (${o_.rate} events/s of ~210 bytes, \`maxBufferBytes\` 256 KiB, stalled ${o_.stall} s)`,
    '',
    "The client stops reading; the kernel's socket buffers take the first events (the \"before full\" column); the stall then lasts until node holds a quarter of the bound for it, plus the stall. Cut off ('disconnect'), the client gets only what its own receive buffer held: what the server's send buffer held goes with the socket (history is off here; with it, the client resumes from the last id it got).",
    '',
    '| policy | published from its open to the end | before full | ticks received | bytes received | `missed` | `conflated` | cut off |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
    ...policies.map(
      (p) =>
        `| ${p.policy} | ${p.slow.published} | ${p.slow.beforeFull} | ${p.slow.ticks} | ${p.slow.bytes} | ${p.slow.missed} | ${p.slow.conflated} | ${p.slow.cut ? 'yes' : 'no'} |`,
    ),
    '',
    `### The other ${o_.readers} readers' latency (ms), ${o_.window} s windows without / with the stalled client`,
    '',
    `Publish → the readers' process (one clock for both). Per policy one server: a warm-up window (not counted), two windows without the slow client (A, B: the change between them is the noise of the machine), then one while it is stalled (after its kernel buffers are full). Target: the p99 changes by < 10 % from B; a change within the noise says nothing.`,
    '',
    '| policy | p99 without, A | p99 without, B | p99 with | p50 B → with | p99 change B → with | noise A → B | readers cut | load B → with |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...policies.map(
      (p) =>
        `| ${p.policy} | ${f2(p.calmA.p99)} | ${f2(p.calm.p99)} | ${f2(p.stalled.p99)} | ${f2(p.calm.p50)} → ${f2(p.stalled.p50)} | ${pct(p.calm.p99, p.stalled.p99)} | ${pct(p.calmA.p99, p.calm.p99)} | ${p.readersEnded} | ${p.calmLoad} → ${p.stalledLoad} |`,
    ),
  ];
  return lines.join('\n');
}

async function main() {
  const clients = Number(o.clients);
  const readers = Number(o.readers);
  const rate = Number(o.rate);
  const stall = Number(o.stall);
  const windowS = Number(o.window);
  for (const [name, v] of Object.entries({ clients, readers, rate, stall, window: windowS }))
    if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer, got ${v}`);
  process.stdout.write(`load at start: ${load()}\n`);
  const filters = await filterCost(clients);
  const policies = [];
  for (const policy of ['disconnect', 'drop-oldest', 'conflate']) {
    const r = await policyRun(policy, readers, rate, stall, windowS);
    process.stdout.write(`policy ${JSON.stringify(r)}\n`);
    policies.push(r);
  }
  const text = render({ clients, readers, rate, stall, window: windowS }, filters, policies);
  process.stdout.write(`${text}\n`);
  if (o.report) writeSection(o.report, 'policies', text);
}

if (o.role === 'server') await server();
else if (o.role === 'gen') await gen();
else await main();
