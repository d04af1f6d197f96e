// Connection-scale benchmark (issue 13): N idle connections to one server process.
//
//   npm run bench -- --scale [--subjects raw,raw-express,lib-http,lib-express] [--n 19000]
//                    [--keepalive-ms 5000] [--idle-ms 15000] [--snapshot-n 2000] [--rounds 1]
//                    [--before /path/to/older/checkout] [--no-report]
//   node bench/scale.mjs …   (same flags)
//
// --before DIR: a built checkout of an earlier version (`git worktree add DIR <ref>`, then
// `npm run build` there): every run is made twice, interleaved, with DIR's bench and library
// first and this one second, and the report shows both rows ("before" / "after") with ratios to
// the raw subject of the same build. --rounds R repeats the runs (snapshots once) and reports
// medians.
//
// Per subject: one run at N (accept time, heap/RSS per idle connection, one-event fan-out
// latency, keep-alive CPU while all are idle) and one smaller run (--snapshot-n; 0 = none) that
// takes heap snapshots before and after connecting, summarised by constructor name
// (bench/heap-summary.mjs). The fd limit is 20,000 per process here: the server holds N client
// sockets, the load generator the other ends, each in its own process.

import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { renderSummary, summarise } from './heap-summary.mjs';
import { driverArgs } from './lib/driver-args.mjs';
import { canPin, median, runPair } from './lib/pair.mjs';
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

/** The commit of a checkout, for the report. */
function commitOf(dir) {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return path.basename(dir);
  }
}

/** @param {Partial<typeof SCALE_DEFAULTS> & { pin?: boolean, report?: boolean, out?: string, rounds?: number, before?: string }} opts */
export async function runScale(opts = {}) {
  const o = { ...SCALE_DEFAULTS, ...opts };
  const { LIB_SUBJECTS } = await import('./lib-subjects.mjs');
  const defs = { ...SUBJECTS, ...LIB_SUBJECTS };
  const subjects = o.subjects.includes('raw') ? o.subjects : ['raw', ...o.subjects];
  const pin = o.pin ?? canPin();
  const rounds = Math.max(1, o.rounds ?? 1);
  // builds to measure: an earlier checkout's bench + library first (--before), then this one
  const builds = o.before
    ? [
        { tree: 'before', dir: path.resolve(o.before), commit: commitOf(path.resolve(o.before)) },
        { tree: 'after', dir: root, commit: commitOf(root) },
      ]
    : [{ tree: undefined, dir: root, commit: undefined }];
  for (const b of builds) {
    b.runPair =
      b.dir === root
        ? runPair
        : (await import(pathToFileURL(path.join(b.dir, 'bench', 'lib', 'pair.mjs')).href)).runPair;
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(here, 'results');
  const snapDir = path.join(resultsDir, 'heap');
  mkdirSync(snapDir, { recursive: true });
  const rawFile = path.join(resultsDir, `scale-${stamp}.json`);
  const config = {
    ...o,
    subjects,
    pin,
    rounds,
    builds: builds.map(({ tree, dir, commit }) => ({ tree, dir, commit })),
  };
  const runs = [];
  const snapshots = {};
  const t0 = Date.now();
  console.log(
    `scale: subjects=${subjects.join(',')} N=${o.n} keep-alive ${o.keepAliveMs} ms, ${rounds} round(s)${o.before ? `, before = ${builds[0].commit}` : ''}`,
  );
  for (let round = 0; round < rounds; round++) {
    for (const s of subjects) {
      for (const b of builds) {
        const run = await b.runPair({
          subject: s,
          serverArgs: ['--keepalive-ms', String(o.keepAliveMs)],
          gen: 'scale-gen.mjs',
          genArgs: [
            '--n',
            String(o.n),
            '--keepalive-ms',
            String(o.keepAliveMs),
            '--idle-ms',
            String(o.idleMs),
          ],
          pin,
          timeoutMs: 300_000,
        });
        Object.assign(run, { subject: s, tree: b.tree, round });
        console.log(
          run.ok
            ? `  ${s}${b.tree ? ` (${b.tree})` : ''}: accept ${run.acceptMs.toFixed(0)} ms, heap ${((run.mem1.heapUsed - run.mem0.heapUsed) / run.n / 1024).toFixed(2)} KB/conn, RSS ${((run.mem1.rss - run.mem0.rss) / run.n / 1024).toFixed(2)} KB/conn, fan-out ${run.fanOut.median.toFixed(1)} ms`
            : `  ${s}${b.tree ? ` (${b.tree})` : ''}: FAILED ${run.error}`,
        );
        runs.push(run);
        writeFileSync(rawFile, JSON.stringify({ config, runs }, null, 1));
        if (o.snapshotN > 0 && round === 0) {
          const key = b.tree === 'before' ? `before:${s}` : s;
          const prefix = path.join(snapDir, `${b.tree ? `${b.tree}-` : ''}${s}-${o.snapshotN}`);
          const snap = await b.runPair({
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
              snapshots[key] = summarise(`${prefix}-0.heapsnapshot`, `${prefix}-1.heapsnapshot`, o.snapshotN);
              // the snapshots are large; the summary is what we keep
              rmSync(`${prefix}-0.heapsnapshot`, { force: true });
              rmSync(`${prefix}-1.heapsnapshot`, { force: true });
            } catch (err) {
              snapshots[key] = { error: String(err?.message ?? err) };
            }
          } else snapshots[key] = { error: snap.error };
          writeFileSync(rawFile, JSON.stringify({ config, runs, snapshots }, null, 1));
        }
      }
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
  const builds = config.builds ?? [{ tree: undefined }];
  const rounds = config.rounds ?? 1;
  /** One run's figures. */
  const figures = (run) => {
    const idle = run.idle;
    const idleCpu = idle ? idle.serverUserUs + idle.serverSystemUs : Number.NaN;
    // keep-alive cost per round per connection, then per minute at the library's default 20 s
    const kaRounds = idle ? idle.keepAlives / run.n : Number.NaN;
    const perRound = idleCpu / (kaRounds * run.n); // µs per keep-alive per connection
    return {
      heap: (run.mem1.heapUsed - run.mem0.heapUsed) / run.n,
      rss: (run.mem1.rss - run.mem0.rss) / run.n,
      accept: run.acceptMs,
      acceptCpu: run.acceptCpu ? (run.acceptCpu.user + run.acceptCpu.system) / run.n : Number.NaN,
      fan: run.fanOut.median,
      fanUser: run.fanOut.serverUserUs / 1000,
      fanSys: run.fanOut.serverSystemUs / 1000,
      idleCpuPerMin: idle ? (idleCpu / 1000) * (60_000_000 / idle.wallUs) : Number.NaN,
      perRound,
      perMin20s: perRound * run.n * 3, // 3 keep-alives per minute at 20 s, µs
    };
  };
  /** Median over the rounds of one subject on one build (null if none succeeded). */
  const m = (subject, tree) => {
    const ok = runs.filter((r) => r.subject === subject && r.tree === tree && r.ok);
    if (ok.length === 0) return null;
    const all = ok.map(figures);
    const out = { n: ok[0].n, verify: ok.map((r) => r.verify) };
    for (const k of Object.keys(all[0])) out[k] = median(all.map((f) => f[k]));
    return out;
  };
  const ratio = (x, b) => (b && Number.isFinite(x) && Number.isFinite(b) && b !== 0 ? ` (${r2(x / b)})` : '');
  const buildName = (b) => (b.tree === undefined ? '' : `${b.tree} (\`${b.commit}\`)`);
  let md = '## Connection scale (issue 13)\n\n';
  md += `Generated by \`npm run bench -- --scale\` (\`node bench/scale.mjs${config.before ? ' --before …' : ''}\`) on ${new Date().toISOString().slice(0, 10)}; ${durationSec} s. Raw results: \`${rawFile}\` (git-ignored).\n\n`;
  md += `**Method.** One server process (core 0) holds the N connections, one load generator (core 1) the other ends (fd limit 20,000 each, raised in the spawning shell). Per subject ${rounds > 1 ? `${rounds} rounds (medians shown) of one run` : 'one run'} with N = ${config.n.toLocaleString('en-US')}: **accept** = first connect until all N have a response head (200 connects in flight), and the server's user + system CPU from the first connect until all N are subscribed, ÷ N; **heap / RSS per idle connection** = \`process.memoryUsage()\` after three forced GCs, with all N idle minus before any client, ÷ N; **fan-out** = median of ${7} one-event publishes, until the last client parsed it (and the server's user / system CPU for one fan-out); **keep-alive** = every subject sends \`:\\n\\n\` after ${config.keepAliveMs} ms of silence (the library: \`keepAlive: ${config.keepAliveMs}, keepAliveFormat: 'comment'\`; raw: one \`setInterval\` writing to every response), the server's CPU over ${config.idleMs / 1000} s with all idle ÷ the keep-alives the clients received = µs per keep-alive per connection, × N × 3 = CPU per minute at the library's default 20 s interval. Ratios (×) are to raw \`node:http\` ${builds.length > 1 ? 'of the same build, measured in the same interleaved run set' : 'from the same run set'}; "× raw Express" to \`raw-express\`.`;
  if (builds.length > 1)
    md += ` **Before / after**: every run was made twice in a row, first with the bench and library of ${buildName(builds[0])}, then with ${buildName(builds[1])}; the raw subjects are the same code in both.`;
  md += '\n\n';
  md +=
    `| subject${builds.length > 1 ? ' | build' : ''} | N | accept ms (× raw) | accept CPU µs / conn (× raw) | heap / conn KB (× raw) | × raw Express | RSS / conn KB (× raw) | fan-out ms (× raw) | fan-out CPU user / system ms | idle CPU ms / min at ` +
    `${config.keepAliveMs / 1000} s keep-alive | µs / keep-alive / conn (× raw) | CPU ms / min at 20 s | correct |\n|---|${builds.length > 1 ? '---|' : ''}---|---|---|---|---|---|---|---|---|---|---|---|\n`;
  for (const s of config.subjects) {
    for (const b of builds) {
      const x = m(s, b.tree);
      const build = builds.length > 1 ? ` | ${b.tree}` : '';
      if (!x) {
        const run = runs.find((r) => r.subject === s && r.tree === b.tree);
        md += `| ${label(s)}${build} | ${config.n} | **FAILED**: ${run?.error} ||||||||||\n`;
        continue;
      }
      const base = m('raw', b.tree);
      const baseX = m('raw-express', b.tree);
      const bad = x.verify.find(
        (v) => v.lost || v.reordered || v.protocolErrors || v.closedEarly || v.publishErrors,
      );
      md += `| ${label(s)}${build} | ${x.n.toLocaleString('en-US')} | ${ms0(x.accept)}${ratio(x.accept, base?.accept)} | ${ms0(x.acceptCpu)}${ratio(x.acceptCpu, base?.acceptCpu)} | ${kb(x.heap)}${ratio(x.heap, base?.heap)} | ${defs[s]?.framework?.startsWith('Express') ? r2(x.heap / (baseX?.heap ?? Number.NaN)) : '—'} | ${kb(x.rss)}${ratio(x.rss, base?.rss)} | ${ms1(x.fan)}${ratio(x.fan, base?.fan)} | ${ms1(x.fanUser)} / ${ms1(x.fanSys)} | ${ms0(x.idleCpuPerMin)} | ${r2(x.perRound)}${ratio(x.perRound, base?.perRound)} | ${ms0(x.perMin20s / 1000)} | ${bad ? `**NO** ${JSON.stringify(bad)}` : 'yes'} |\n`;
    }
  }
  if (snapshots && Object.keys(snapshots).length) {
    md += `\n### Where the heap per connection goes (heap snapshots, N = ${config.snapshotN.toLocaleString('en-US')})\n\n`;
    md += `\`POST /heap-snapshot\` on the server (three forced GCs, then \`v8.writeHeapSnapshot\`) with 200 warm-up clients connected (so one-time costs such as compiled code and hidden classes are in both snapshots) and again with N more idle clients; the difference of self sizes grouped by constructor name (objects) or kind, ÷ N (\`node bench/heap-summary.mjs before after --n N\`). Self sizes only: a Buffer's or socket's memory outside the V8 heap is not included. \`(synthetic)\` is native state the embedder reports (not part of \`heapUsed\`); \`(code)\` is code compiled during the run. What retains a constructor's objects: \`node bench/heap-retainers.mjs <snapshot> <constructor>\`.\n`;
    const before = config.subjects.filter((s) => snapshots[`before:${s}`] && !snapshots[`before:${s}`].error);
    if (before.length > 0) {
      md += `\nTotals per connection, ${buildName(builds[0])} → ${buildName(builds[1])}: ${before
        .map(
          (s) =>
            `${label(s)} ${kb(snapshots[`before:${s}`].perConnection)} → ${kb(snapshots[s]?.perConnection)} KB`,
        )
        .join('; ')}. The tables are the ${builds[1].tree} build's.\n`;
    }
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
  const { run } = driverArgs({
    subjects: ['subjects', 'list'],
    n: ['n', 'number'],
    'keepalive-ms': ['keepAliveMs', 'number'],
    'idle-ms': ['idleMs', 'number'],
    'snapshot-n': ['snapshotN', 'number'],
    rounds: ['rounds', 'number'],
    before: ['before', 'string'],
  });
  await runScale(run);
}
