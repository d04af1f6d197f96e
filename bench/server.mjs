// Server under test: `node --expose-gc bench/server.mjs --subject <name>`.
//
// Serves the subject's SSE endpoint on one 127.0.0.1 port and a control API on another. The
// Fetch subjects (fetch-subjects.mjs) run this file under their runtime: Bun (`bun run`; GC by
// `Bun.gc(true)`) or Deno (`deno run --v8-flags=--expose-gc`), where the endpoint is served by
// `Bun.serve` / `Deno.serve` and the control API by the runtime's node:http; on Node a Fetch
// subject goes through @hono/node-server's getRequestListener. Without a way to force GC, /mem
// answers `gc: false` and the report shows no heap figures for the run.
//   GET  /mem                      process.memoryUsage() after forced GCs
//   GET  /stats                    { subscribers } (library count, else requests whose response is open)
//   POST /publish?from=S&count=K&cpu=1
//                                  publishes events seq S..S+K-1 synchronously; with cpu=1 it first
//                                  marks process.cpuUsage() for GET /cpu
//   GET  /cpu                      CPU (user+system µs) and wall time since the last mark
//   POST /publish-one?seq=S[&ch=C] | ?t=T  publishes ONE event (on channel C, library subjects only) and
//                                  answers 204: the sustained/storm benches send one such request
//                                  per event, so each event arrives in its own I/O callback
//   POST /mark                     marks process.cpuUsage() for GET /cpu
//   GET  /rss-peak[?reset=1]       highest RSS sampled every 20 ms since the last reset
//   GET  /counters                 the subject's own counters (library: stats() and store reads)
//   POST /heap-snapshot?file=F     forced GCs, then v8.writeHeapSnapshot(F)
//   POST /exit                     exits (also on SIGTERM / SIGINT / stdin close)
// Prints `READY {"port":…,"ctl":…}` on stdout once both listen. Exits by itself after
// --max-seconds (default 600) so no run can outlive its orchestrator.

import http from 'node:http';
import { parseArgs } from 'node:util';
import { GRIP_SUBJECTS, SUBJECTS } from './subjects.mjs';

const { values: args } = parseArgs({
  options: {
    subject: { type: 'string' },
    'max-seconds': { type: 'string', default: '600' },
    pad: { type: 'string', default: '40' },
    // write a .cpuprofile of the publish phases only (first latency publish → end of burst)
    'profile-publish': { type: 'string' },
    // scale bench: keep-alive interval (ms) for subjects that support one
    'keepalive-ms': { type: 'string' },
    // storm bench: give library subjects a store that counts its reads (bench/lib/counting-store.mjs)
    'counting-store': { type: 'boolean', default: false },
    // …that answers each read after this many ms (default: in the next turn), like a remote store
    'store-latency-ms': { type: 'string', default: '0' },
  },
});

const name = args.subject ?? '';
const def =
  SUBJECTS[name] ??
  GRIP_SUBJECTS[name] ??
  (await import('./lib-subjects.mjs')).LIB_SUBJECTS[name] ??
  (await import('./fetch-subjects.mjs')).FETCH_SUBJECTS[name];
if (!def) {
  console.error(`unknown subject ${name}`);
  process.exit(2);
}
const Bun = /** @type {any} */ (globalThis).Bun;
const Deno = /** @type {any} */ (globalThis).Deno;
const runtime = Bun ? 'bun' : Deno ? 'deno' : 'node';
if ((def.runtime ?? 'node') !== runtime) {
  console.error(`subject ${name} runs on ${def.runtime ?? 'node'}, this is ${runtime}`);
  process.exit(2);
}

/** @type {(() => void) | null} */
const gc =
  typeof globalThis.gc === 'function'
    ? /** @type {() => void} */ (globalThis.gc)
    : Bun
      ? () => Bun.gc(true)
      : null;
if (!gc) console.error('no way to force GC (run Node with --expose-gc): heap figures will be n/a');

const PAD = 'x'.repeat(Number(args.pad));
/** @type {{ keepAliveMs?: number, store?: object }} */
const buildOpts = {};
if (args['keepalive-ms']) buildOpts.keepAliveMs = Number(args['keepalive-ms']);
if (args['counting-store']) {
  const { CountingStore } = await import('./lib/counting-store.mjs');
  buildOpts.store = new CountingStore({ latencyMs: Number(args['store-latency-ms']) });
}
const subject = await def.build(buildOpts);

let openResponses = 0;
/** @type {import('node:http').RequestListener} */
let listener = subject.listener;
if (!listener && subject.fetch && runtime === 'node') {
  const { getRequestListener } = await import('@hono/node-server');
  listener = getRequestListener(subject.fetch);
}
// Count open responses only for subjects without a subscriber count of their own: the extra
// 'close' listener would otherwise add to every subject's heap per connection.
const server = http.createServer(
  subject.subscribers
    ? listener
    : (req, res) => {
        openResponses++;
        res.once('close', () => openResponses--);
        listener(req, res);
      },
);
server.keepAliveTimeout = 0;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.timeout = 0;
server.maxConnections = 1e6;

let publishErrors = 0;
let lastError = '';
const noteError = (err) => {
  publishErrors++;
  lastError = String(err?.stack ?? err).slice(0, 500);
};

/** @type {import('node:inspector').Session | null} */
let profiler = null;
let profiling = 'off';
async function startPublishProfile() {
  if (!args['profile-publish'] || profiling !== 'off') return;
  profiling = 'on';
  const { Session } = await import('node:inspector');
  profiler = new Session();
  profiler.connect();
  const post = (m, p) => new Promise((res, rej) => profiler?.post(m, p, (e, r) => (e ? rej(e) : res(r))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
}
async function stopPublishProfile() {
  if (profiling !== 'on' || !profiler) return;
  profiling = 'done';
  const session = profiler;
  const { writeFileSync } = await import('node:fs');
  const result = await new Promise((res, rej) =>
    session.post('Profiler.stop', (e, r) => (e ? rej(e) : res(r))),
  );
  writeFileSync(
    String(args['profile-publish']),
    JSON.stringify(/** @type {{ profile: object }} */ (result).profile),
  );
  session.disconnect();
}

let cpuMark = process.cpuUsage();
let wallMark = process.hrtime.bigint();

const settle = () => new Promise((r) => setImmediate(r));

async function measureMemory() {
  for (let i = 0; i < 3 && gc; i++) {
    gc();
    await settle();
  }
  const m = process.memoryUsage();
  return {
    gc: gc !== null,
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}

let publishOneSeq = 0;
let rssPeak = 0;
/** @type {NodeJS.Timeout | undefined} */
let rssTimer;
const sampleRss = () => {
  const r = process.memoryUsage.rss();
  if (r > rssPeak) rssPeak = r;
};

function send(res, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const ctl = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  try {
    if (url.pathname === '/publish') {
      const from = Number(url.searchParams.get('from'));
      const count = Number(url.searchParams.get('count') ?? '1');
      if (url.searchParams.get('cpu') === '1') {
        await startPublishProfile();
        cpuMark = process.cpuUsage();
        wallMark = process.hrtime.bigint();
      }
      for (let seq = from; seq < from + count; seq++) {
        try {
          const r = subject.publish({ seq, pad: PAD });
          if (r && typeof r.then === 'function') r.then(undefined, noteError);
        } catch (err) {
          noteError(err);
        }
      }
      send(res, { ok: true });
    } else if (url.pathname === '/publish-rate') {
      // publish seq from.. at `rate` events/s for `ms` ms, paced by a 5 ms timer
      const from = Number(url.searchParams.get('from'));
      const rate = Number(url.searchParams.get('rate'));
      const ms = Number(url.searchParams.get('ms'));
      const total = Math.max(1, Math.round((rate * ms) / 1000));
      const t0 = performance.now();
      let sent = 0;
      const publishOne = (seq) => {
        try {
          const r = subject.publish({ seq, pad: PAD });
          if (r && typeof r.then === 'function') r.then(undefined, noteError);
        } catch (err) {
          noteError(err);
        }
      };
      const timer = setInterval(() => {
        const elapsed = performance.now() - t0;
        const due = elapsed >= ms ? total : Math.min(total, Math.floor((elapsed / ms) * total));
        while (sent < due) publishOne(from + sent++);
        if (sent >= total || elapsed > ms + 10_000) clearInterval(timer);
      }, 5);
      send(res, { count: total });
    } else if (url.pathname === '/publish-one') {
      // With ?t=T (sustained bench) the server numbers events in the order it publishes them (the
      // generator's connections race, so arrival order is not send order) and T, the generator's
      // send number, rides along for its latency lookup. Without it, ?seq=S is used as given.
      const t = url.searchParams.get('t');
      const seq = t !== null ? ++publishOneSeq : Number(url.searchParams.get('seq'));
      const data = t !== null ? { seq, t: Number(t), pad: PAD } : { seq, pad: PAD };
      const ch = url.searchParams.get('ch');
      try {
        const r = ch && subject.publishTo ? subject.publishTo(ch, data) : subject.publish(data);
        if (r && typeof r.then === 'function') r.then(undefined, noteError);
      } catch (err) {
        noteError(err);
      }
      res.writeHead(204).end();
    } else if (url.pathname === '/mark') {
      await startPublishProfile(); // with --profile-publish: profile from the first mark to /stats?final=1
      cpuMark = process.cpuUsage();
      wallMark = process.hrtime.bigint();
      send(res, { ok: true });
    } else if (url.pathname === '/rss-peak') {
      sampleRss();
      const peak = rssPeak;
      if (url.searchParams.get('reset') === '1') {
        rssPeak = 0;
        sampleRss();
        rssTimer ??= setInterval(sampleRss, 20);
        rssTimer.unref();
      }
      send(res, { peak, now: process.memoryUsage.rss() });
    } else if (url.pathname === '/counters') {
      send(res, subject.counters ? subject.counters() : {});
    } else if (url.pathname === '/heap-snapshot') {
      const file = String(url.searchParams.get('file'));
      for (let i = 0; i < 3 && gc; i++) {
        gc();
        await settle();
      }
      const { writeHeapSnapshot } = await import('node:v8');
      const t0 = performance.now();
      writeHeapSnapshot(file);
      send(res, { file, ms: performance.now() - t0 });
    } else if (url.pathname === '/cpu') {
      const c = process.cpuUsage(cpuMark);
      const wallUs = Number(process.hrtime.bigint() - wallMark) / 1000;
      send(res, { user: c.user, system: c.system, wallUs });
    } else if (url.pathname === '/mem') {
      send(res, await measureMemory());
    } else if (url.pathname === '/stats') {
      if (url.searchParams.get('final') === '1') await stopPublishProfile();
      const subs = subject.subscribers ? subject.subscribers() : openResponses;
      const c = process.cpuUsage();
      send(res, {
        subscribers: subs,
        openResponses,
        publishErrors,
        lastError,
        cpuTotalUs: c.user + c.system,
      });
    } else if (url.pathname === '/exit') {
      send(res, { ok: true });
      setTimeout(() => shutdown(0), 10);
    } else {
      res.writeHead(404).end();
    }
  } catch (err) {
    res.writeHead(500).end(String(err));
  }
});
ctl.keepAliveTimeout = 60_000;

let exiting = false;
function shutdown(code) {
  if (exiting) return;
  exiting = true;
  // process.exit() still writes a --cpu-prof profile
  process.exit(code);
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.stdin.on('end', () => shutdown(0));
process.stdin.on('error', () => shutdown(0));
process.stdin.resume();
setTimeout(() => shutdown(3), Number(args['max-seconds']) * 1000).unref();

const listen = (srv) =>
  new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
      const addr = srv.address();
      resolve(typeof addr === 'object' && addr ? addr.port : 0);
    });
  });

/** The SSE endpoint: the node:http server, or the runtime's own server for a Fetch subject. */
async function listenEndpoint() {
  if (runtime === 'node' || !subject.fetch) return listen(server);
  if (Bun) {
    // idleTimeout 0: Bun.serve closes connections idle for 10 s by default
    const s = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      idleTimeout: 0,
      development: false,
      fetch: subject.fetch,
    });
    return s.port;
  }
  return new Promise((resolve) => {
    Deno.serve(
      { port: 0, hostname: '127.0.0.1', onListen: (/** @type {{ port: number }} */ a) => resolve(a.port) },
      subject.fetch,
    );
  });
}

const port = await listenEndpoint();
const ctlPort = await listen(ctl);
process.stdout.write(`READY ${JSON.stringify({ port, ctl: ctlPort, pid: process.pid })}\n`);
