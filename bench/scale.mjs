// Connection-scale benchmark (issue 13): N idle connections to one server process.
//
//   npm run bench -- --scale [--subjects raw,raw-express,lib-http,lib-express] [--n 19000]
//                    [--keepalive-ms 5000] [--idle-ms 15000] [--snapshot-n 2000] [--no-report]
//   node bench/scale.mjs …   (same flags)
//
// Per subject: one run at N (accept time, heap/RSS per idle connection, one-event fan-out
// latency, keep-alive CPU while all are idle) and one smaller run (--snapshot-n; 0 = none) that
// takes heap snapshots before and after connecting, summarised by constructor name
// (bench/heap-summary.mjs). The fd limit is 20,000 per process here: the server holds N client
// sockets, the load generator the other ends, each in its own process.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderSummary, summarise } from './heap-summary.mjs';
import { canPin, runPair } from './lib/pair.mjs';
import { writeSection } from './lib/sections.mjs';
import { SUBJECTS } from './subjects.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);

export const SCALE_DEFAULTS = {
  subjects: ['raw', 'raw-express', 'lib-http', 'lib-express'],
  n: 19_000,
  keepAliveMs: 5000,
  idleMs: 15_000,
  snapshotN: 2000,
};

/** @param {Partial<typeof SCALE_DEFAULTS> & { pin?: boolean, report?: boolean, out?: string }} opts */
export async function runScale(opts = {}) {
  const o = { ...SCALE_DEFAULTS, ...opts };
  const { LIB_SUBJECTS } = await import('./lib-subjects.mjs');
  const defs = { ...SUBJECTS, ...LIB_SUBJECTS };
  const subjects = o.subjects.includes('raw') ? o.subjects : ['raw', ...o.subjects];
  const pin = o.pin ?? canPin();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(here, 'results');
  const snapDir = path.join(resultsDir, 'heap');
  mkdirSync(snapDir, { recursive: true });
  const rawFile = path.join(resultsDir, `scale-${stamp}.json`);
  const config = { ...o, subjects, pin };
  const runs = [];
  const snapshots = {};
  const t0 = Date.now();
  console.log(`scale: subjects=${subjects.join(',')} N=${o.n} keep-alive ${o.keepAliveMs} ms`);
  for (const s of subjects) {
    const run = await runPair({
      subject: s,
      serverArgs: ['--keepalive-ms', String(o.keepAliveMs)],
      gen: 'scale-gen.mjs',
      genArgs: ['--n', String(o.n), '--keepalive-ms', String(o.keepAliveMs), '--idle-ms', String(o.idleMs)],
      pin,
      timeoutMs: 300_000,
    });
    Object.assign(run, { subject: s });
    console.log(
      run.ok
        ? `  ${s}: accept ${run.acceptMs.toFixed(0)} ms, heap ${((run.mem1.heapUsed - run.mem0.heapUsed) / run.n / 1024).toFixed(2)} KB/conn, RSS ${((run.mem1.rss - run.mem0.rss) / run.n / 1024).toFixed(2)} KB/conn, fan-out ${run.fanOut.median.toFixed(1)} ms`
        : `  ${s}: FAILED ${run.error}`,
    );
    runs.push(run);
    writeFileSync(rawFile, JSON.stringify({ config, runs }, null, 1));
    if (o.snapshotN > 0) {
      const prefix = path.join(snapDir, `${s}-${o.snapshotN}`);
      const snap = await runPair({
        subject: s,
        serverArgs: ['--keepalive-ms', String(o.keepAliveMs)],
        gen: 'scale-gen.mjs',
        genArgs: [
          '--n',
          String(o.snapshotN),
          '--warm',
          '200',
          '--idle-ms',
          '0',
          '--repeats',
          '1',
          '--snapshot-prefix',
          prefix,
        ],
        pin,
        timeoutMs: 300_000,
      });
      if (snap.ok) {
        try {
          snapshots[s] = summarise(`${prefix}-0.heapsnapshot`, `${prefix}-1.heapsnapshot`, o.snapshotN);
          // the snapshots are large; the summary is what we keep
          rmSync(`${prefix}-0.heapsnapshot`, { force: true });
          rmSync(`${prefix}-1.heapsnapshot`, { force: true });
        } catch (err) {
          snapshots[s] = { error: String(err?.message ?? err) };
        }
      } else snapshots[s] = { error: snap.error };
      writeFileSync(rawFile, JSON.stringify({ config, runs, snapshots }, null, 1));
    }
  }
  const durationSec = Math.round((Date.now() - t0) / 1000);
  const md = renderScale({
    config,
    runs,
    snapshots,
    defs,
    durationSec,
    rawFile: path.relative(root, rawFile),
  });
  if (o.report !== false) {
    const out = path.resolve(root, o.out ?? 'BENCHMARKS.md');
    writeSection(out, 'scale', md);
    console.log(`wrote the scale section of ${path.relative(root, out)} (${durationSec}s)`);
  } else console.log(md);
  return { runs, md };
}

const kb = (x) => (Number.isFinite(x) ? (x / 1024).toFixed(2) : '—');
const r2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const ms0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '—');
const ms1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '—');

export function renderScale({ config, runs, snapshots, defs, durationSec, rawFile }) {
  const label = (s) => defs[s]?.label ?? s;
  const m = (run) => {
    if (!run?.ok) return null;
    const idle = run.idle;
    const idleCpu = idle ? idle.serverUserUs + idle.serverSystemUs : Number.NaN;
    // keep-alive cost per round per connection, then per minute at the library's default 20 s
    const rounds = idle ? idle.keepAlives / run.n : Number.NaN;
    const perRound = idleCpu / (rounds * run.n); // µs per keep-alive per connection
    return {
      heap: (run.mem1.heapUsed - run.mem0.heapUsed) / run.n,
      rss: (run.mem1.rss - run.mem0.rss) / run.n,
      accept: run.acceptMs,
      fan: run.fanOut.median,
      fanMax: run.fanOut.max,
      fanUser: run.fanOut.serverUserUs / 1000,
      fanSys: run.fanOut.serverSystemUs / 1000,
      idleCpuPerMin: idle ? (idleCpu / 1000) * (60_000_000 / idle.wallUs) : Number.NaN,
      rounds,
      perRound,
      perMin20s: perRound * run.n * 3, // 3 keep-alives per minute at 20 s, µs
    };
  };
  const base = m(runs.find((r) => r.subject === 'raw'));
  const baseX = m(runs.find((r) => r.subject === 'raw-express'));
  const ratio = (x, b) => (b && Number.isFinite(x) && Number.isFinite(b) && b !== 0 ? ` (${r2(x / b)})` : '');
  let md = '## Connection scale (issue 13)\n\n';
  md += `Generated by \`npm run bench -- --scale\` (\`node bench/scale.mjs\`) on ${new Date().toISOString().slice(0, 10)}; ${durationSec} s. Raw results: \`${rawFile}\` (git-ignored).\n\n`;
  md += `**Method.** One server process (core 0) holds the N connections, one load generator (core 1) the other ends (fd limit 20,000 each, raised in the spawning shell). Per subject one run with N = ${config.n.toLocaleString('en-US')}: **accept** = first connect until all N have a response head (200 connects in flight); **heap / RSS per idle connection** = \`process.memoryUsage()\` after three forced GCs, with all N idle minus before any client, ÷ N; **fan-out** = median of ${7} one-event publishes, until the last client parsed it (and the server's user / system CPU for one fan-out); **keep-alive** = every subject sends \`:\\n\\n\` after ${config.keepAliveMs} ms of silence (the library: \`keepAlive: ${config.keepAliveMs}, keepAliveFormat: 'comment'\`; raw: one \`setInterval\` writing to every response), the server's CPU over ${config.idleMs / 1000} s with all idle ÷ the keep-alives the clients received = µs per keep-alive per connection, × N × 3 = CPU per minute at the library's default 20 s interval. Ratios (×) are to raw \`node:http\` from the same run set; "× raw Express" to \`raw-express\`.\n\n`;
  md +=
    '| subject | N | accept ms (× raw) | heap / conn KB (× raw) | × raw Express | RSS / conn KB (× raw) | fan-out ms (× raw) | fan-out CPU user / system ms | idle CPU ms / min at ' +
    `${config.keepAliveMs / 1000} s keep-alive | µs / keep-alive / conn (× raw) | CPU ms / min at 20 s | correct |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n`;
  for (const s of config.subjects) {
    const run = runs.find((r) => r.subject === s);
    const x = m(run);
    if (!x) {
      md += `| ${label(s)} | ${config.n} | **FAILED**: ${run?.error} |||||||||\n`;
      continue;
    }
    const v = run.verify;
    const bad = v.lost || v.reordered || v.protocolErrors || v.closedEarly || v.publishErrors;
    md += `| ${label(s)} | ${run.n.toLocaleString('en-US')} | ${ms0(x.accept)}${ratio(x.accept, base?.accept)} | ${kb(x.heap)}${ratio(x.heap, base?.heap)} | ${defs[s]?.framework?.startsWith('Express') ? r2(x.heap / (baseX?.heap ?? Number.NaN)) : '—'} | ${kb(x.rss)}${ratio(x.rss, base?.rss)} | ${ms1(x.fan)}${ratio(x.fan, base?.fan)} | ${ms1(x.fanUser)} / ${ms1(x.fanSys)} | ${ms0(x.idleCpuPerMin)} | ${r2(x.perRound)}${ratio(x.perRound, base?.perRound)} | ${ms0(x.perMin20s / 1000)} | ${bad ? `**NO** ${JSON.stringify(v)}` : 'yes'} |\n`;
  }
  if (snapshots && Object.keys(snapshots).length) {
    md += `\n### Where the heap per connection goes (heap snapshots, N = ${config.snapshotN.toLocaleString('en-US')})\n\n`;
    md += `\`POST /heap-snapshot\` on the server (three forced GCs, then \`v8.writeHeapSnapshot\`) with 200 warm-up clients connected (so one-time costs such as compiled code and hidden classes are in both snapshots) and again with N more idle clients; the difference of self sizes grouped by constructor name (objects) or kind, ÷ N (\`node bench/heap-summary.mjs before after --n N\`). Self sizes only: a Buffer's or socket's memory outside the V8 heap is not included.\n`;
    for (const s of config.subjects) {
      const sn = snapshots[s];
      if (!sn) continue;
      md += `\n**${label(s)}**${sn.error ? `: not measured (${sn.error})\n` : '\n\n'}`;
      if (!sn.error) md += renderSummary(sn, 15);
    }
  }
  return md;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { values: a } = parseArgs({
    options: {
      subjects: { type: 'string' },
      n: { type: 'string' },
      'keepalive-ms': { type: 'string' },
      'idle-ms': { type: 'string' },
      'snapshot-n': { type: 'string' },
      out: { type: 'string' },
      'no-report': { type: 'boolean', default: false },
      'no-pin': { type: 'boolean', default: false },
    },
  });
  await runScale({
    ...(a.subjects && { subjects: a.subjects.split(',') }),
    ...(a.n && { n: Number(a.n) }),
    ...(a['keepalive-ms'] && { keepAliveMs: Number(a['keepalive-ms']) }),
    ...(a['idle-ms'] && { idleMs: Number(a['idle-ms']) }),
    ...(a['snapshot-n'] && { snapshotN: Number(a['snapshot-n']) }),
    ...(a.out && { out: a.out }),
    report: !a['no-report'],
    ...(a['no-pin'] && { pin: false }),
  });
}
