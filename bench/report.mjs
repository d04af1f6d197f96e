// Aggregation of per-run results and the BENCHMARKS.md writer.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { SECTION_KEYS, sectionsOf } from './lib/sections.mjs';

export const TARGETS = {
  n: 5000,
  burst: 3, // ≥ 3× raw deliveries/s
  latency: 0.9, // ≤ 0.9× raw
  cpu: 0.3, // ≤ 0.3× raw CPU per delivery
  heap: 1.1, // ≤ 1.1× raw heap per idle connection
};

function pkgVersion(root, name) {
  try {
    const req = createRequire(path.join(root, 'package.json'));
    return JSON.parse(readFileSync(req.resolve(`${name}/package.json`), 'utf8')).version;
  } catch {
    try {
      return JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      return '?';
    }
  }
}

export function collectEnvironment(root, defs) {
  const cpus = os.cpus();
  let cpuModel = cpus[0]?.model ?? '?';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const mhz = /cpu MHz\s*:\s*([\d.]+)/.exec(info)?.[1];
    if (mhz) cpuModel += ` @ ${Math.round(Number(mhz))} MHz`;
  } catch {}
  let gitSha = '?';
  try {
    gitSha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {}
  let dirty = '';
  try {
    dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
  } catch {}
  let fdLimit = '?';
  try {
    fdLimit = execFileSync(
      'bash',
      ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ulimit -n'],
      {
        encoding: 'utf8',
      },
    ).trim();
  } catch {}
  const versions = {};
  for (const d of defs) {
    if (d.pkg && !versions[d.pkg]) {
      versions[d.pkg] =
        d.pkg === 'express-eventstream'
          ? `${JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version} (git ${gitSha}${dirty ? ' + uncommitted changes in src/' : ''}, built dist/)`
          : pkgVersion(root, d.pkg);
    }
  }
  for (const extra of ['express', 'compression']) versions[extra] = pkgVersion(root, extra);
  // packages a subject runs on besides its own (fetch-subjects.mjs: fastify, @hono/node-server)
  for (const d of defs) for (const p of d.extraPkgs ?? []) versions[p] ??= pkgVersion(root, p);
  return {
    date: new Date().toISOString(),
    cores: cpus.length,
    cpuModel,
    memGB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    fdLimit,
    versions,
    gitSha,
  };
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The figures of one run (null when it failed); heap is NaN when the server could not force GC. */
export function metricsOf(run) {
  if (!run?.ok) return null;
  const heapOk = run.mem1.gc !== false && run.mem0.gc !== false;
  return {
    dps: run.burst.missing ? Number.NaN : run.burst.deliveriesPerSec,
    lat: run.latency.median,
    p99: run.latency.p99,
    cpu: run.burst.cpuMsPer1000,
    heap: heapOk ? (run.mem1.heapUsed - run.mem0.heapUsed) / run.n : Number.NaN,
    rss: (run.mem1.rss - run.mem0.rss) / run.n,
    connect: run.connectMs,
    genShare: run.burst.genCpuShare,
    latUser: run.latency.serverCpuUserUs,
    latSys: run.latency.serverCpuSystemUs,
    burstUser: run.burst.serverCpuUserUs / run.burst.deliveries,
    burstSys: run.burst.serverCpuSystemUs / run.burst.deliveries,
    foreign: run.foreignLoad,
  };
}

function problemsOf(run) {
  if (!run) return ['missing run'];
  const p = [];
  if (!run.ok) p.push(`failed: ${run.error}`);
  const v = run.verify;
  if (v) {
    if (v.lost) p.push(`lost ${v.lost} events`);
    if (v.reordered) p.push(`${v.reordered} reordered/duplicated`);
    if (v.protocolErrors) p.push(`${v.protocolErrors} protocol errors (${v.firstProtocolError})`);
    if (v.closedEarly) p.push(`${v.closedEarly} connections closed by server`);
    if (v.publishErrors) p.push(`${v.publishErrors} publish errors (${v.lastPublishError.split('\n')[0]})`);
  }
  if (run.burst?.missing) p.push(`${run.burst.missing} clients incomplete after burst timeout`);
  if (run.latencyMissing) p.push(`${run.latencyMissing} clients missed a latency event`);
  return p;
}

const KEYS = [
  'dps',
  'lat',
  'p99',
  'cpu',
  'heap',
  'rss',
  'connect',
  'genShare',
  'latUser',
  'latSys',
  'burstUser',
  'burstSys',
  'foreign',
];

/** Medians per (subject, N) of each metric and of each metric's ratio to raw in the same round. */
export function aggregate(runs, subjects, Ns) {
  const out = {};
  for (const n of Ns) {
    out[n] = {};
    const rounds = [...new Set(runs.filter((r) => r.n === n).map((r) => r.round))];
    for (const s of subjects) {
      const vals = Object.fromEntries(KEYS.map((k) => [k, []]));
      const ratios = Object.fromEntries(KEYS.map((k) => [k, []]));
      const ratiosX = Object.fromEntries(KEYS.map((k) => [k, []])); // vs raw-express
      const problems = [];
      let ok = 0;
      for (const r of rounds) {
        const run = runs.find((x) => x.subject === s && x.n === n && x.round === r);
        const base = metricsOf(runs.find((x) => x.subject === 'raw' && x.n === n && x.round === r));
        const baseX = metricsOf(runs.find((x) => x.subject === 'raw-express' && x.n === n && x.round === r));
        const m = metricsOf(run);
        const pr = problemsOf(run);
        if (pr.length) problems.push(...pr.map((x) => `r${r}: ${x}`));
        if (!m) continue;
        ok++;
        for (const k of KEYS) {
          vals[k].push(m[k]);
          if (base && Number.isFinite(base[k]) && base[k] !== 0) ratios[k].push(m[k] / base[k]);
          if (baseX && Number.isFinite(baseX[k]) && baseX[k] !== 0) ratiosX[k].push(m[k] / baseX[k]);
        }
      }
      out[n][s] = {
        runs: rounds.length,
        ok,
        med: Object.fromEntries(KEYS.map((k) => [k, median(vals[k])])),
        ratio: Object.fromEntries(KEYS.map((k) => [k, median(ratios[k])])),
        ratioExpress: Object.fromEntries(KEYS.map((k) => [k, median(ratiosX[k])])),
        problems,
      };
    }
  }
  return out;
}

const fmtK = (x) =>
  !Number.isFinite(x) ? '—' : x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${Math.round(x / 1000)}k`;
const fmt3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : '—');
const fmt0 = (x) => (Number.isFinite(x) ? String(Math.round(x)) : '—');
const fmtR = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const fmtMs = (x) => (!Number.isFinite(x) ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(1));
const fmtKB = (x) => (Number.isFinite(x) ? (x / 1024).toFixed(1) : '—');

function subjectName(s, defs) {
  const d = defs[s];
  return d ? d.label : s;
}

export function renderTables(agg, subjects, Ns, defs) {
  let md = '';
  for (const n of Ns) {
    md += `\n### N = ${n.toLocaleString('en-US')} connections\n\n`;
    md +=
      '| subject | framework | burst deliveries/s (× raw) | 1-event fan-out latency, median ms (× raw) | p99 ms | server CPU ms / 1,000 deliveries (× raw) | heap / idle conn KB (× raw) | RSS / idle conn KB | accept N ms | correct |\n';
    md += '|---|---|---|---|---|---|---|---|---|---|\n';
    for (const s of subjects) {
      const a = agg[n]?.[s];
      if (!a) continue;
      const m = a.med;
      const r = a.ratio;
      const correct =
        a.ok === 0
          ? '**FAILED**'
          : a.problems.length
            ? `**NO** (${a.problems.length} issue(s), see below)`
            : `yes (${a.ok}/${a.runs})`;
      const gen = m.genShare > 0.9 ? ' ⚠gen' : '';
      md += `| ${subjectName(s, defs)} | ${defs[s]?.framework ?? ''} | ${fmtK(m.dps)} (${fmtR(r.dps)})${gen} | ${fmtMs(m.lat)} (${fmtR(r.lat)}) | ${fmtMs(m.p99)} | ${fmt3(m.cpu)} (${fmtR(r.cpu)}) | ${fmtKB(m.heap)} (${fmtR(r.heap)}) | ${fmtKB(m.rss)} | ${fmt0(m.connect)} | ${correct} |\n`;
    }
    md += `\nWhere the server's CPU goes at N = ${n.toLocaleString('en-US')} (medians; user = JavaScript + libuv, system = kernel, mostly the loopback TCP send path):\n\n`;
    md +=
      '| subject | one event to all N: user ms | system ms | burst: user µs / delivery | system µs / delivery | other load on the machine |\n|---|---|---|---|---|---|\n';
    for (const s of subjects) {
      const m = agg[n]?.[s]?.med;
      if (!m) continue;
      const us = (x) => (Number.isFinite(x) ? (x / 1000).toFixed(2) : '—');
      md += `| ${subjectName(s, defs)} | ${us(m.latUser)} | ${us(m.latSys)} | ${fmt3(m.burstUser)} | ${fmt3(m.burstSys)} | ${Number.isFinite(m.foreign) ? `${Math.round(m.foreign * 100)} %` : '—'} |\n`;
    }
    const issues = subjects.flatMap((s) => (agg[n]?.[s]?.problems ?? []).map((p) => `- ${s}, N=${n}, ${p}`));
    if (issues.length) md += `\nIssues at N = ${n}:\n\n${issues.join('\n')}\n`;
  }
  return md;
}

function targetRows(agg, subjects, defs) {
  const n = TARGETS.n;
  const rows = [];
  for (const s of subjects.filter((x) => defs[x]?.library)) {
    const a = agg[n]?.[s];
    if (!a) continue;
    const r = a.ratio;
    const cell = (v, t, higher) => {
      if (!Number.isFinite(v)) return '—';
      const ok = higher ? v >= t : v <= t;
      return `${v.toFixed(2)}× ${ok ? '✅' : '❌'}`;
    };
    rows.push(
      `| ${subjectName(s, defs)} | ${cell(r.dps, TARGETS.burst, true)} | ${cell(r.lat, TARGETS.latency, false)} | ${cell(r.cpu, TARGETS.cpu, false)} | ${cell(r.heap, TARGETS.heap, false)} | ${
        String(defs[s]?.framework).startsWith('Express') && Number.isFinite(a.ratioExpress.heap)
          ? `${a.ratioExpress.heap.toFixed(2)}×`
          : '—'
      } | ${a.problems.length ? '**NO**' : 'yes'} |`,
    );
  }
  return rows;
}

export function renderGrip(grip) {
  if (!grip) return '';
  let md = '\n## GRIP through Pushpin\n\n';
  if (!grip.ok && !grip.rows) return `${md}Not measured: ${grip.error ?? 'unknown error'}\n`;
  if (grip.method) md += `${grip.method}\n\n`;
  if (grip.rows?.length) {
    md +=
      '| subject | publish → client latency median ms | p99 ms | highest sustained publish rate (events/s) | first failing rate (per round) | correct up to the sustained rate |\n';
    md += '|---|---|---|---|---|---|\n';
    for (const r of grip.rows)
      md += `| ${r.label} | ${fmtMs(r.latMedian)} | ${fmtMs(r.latP99)} | ${r.rate ? Math.round(r.rate).toLocaleString('en-US') : '—'} | ${r.deliveredNote ?? '—'} | ${r.correct ?? '—'} |\n`;
  }
  if (grip.notes?.length) md += `\n${grip.notes.map((x) => `- ${x}`).join('\n')}\n`;
  return md;
}

export function writeReport(file, { env, config, agg, grip, subjectDefs, rawFile }) {
  const defs = subjectDefs;
  const { subjects, Ns } = config;
  const load = (l) => (l ? l.map((x) => x.toFixed(2)).join(' / ') : '?');
  let md = `# Benchmarks\n\n`;
  md += `Generated by \`npm run bench\` (\`node bench/run.mjs${config.quick ? ' --quick' : ''}\`) on ${env.date.slice(0, 10)}. Raw per-run results: \`${rawFile}\` (git-ignored).\n`;
  if (config.quick)
    md += `\n> **Quick run** (small N, one round): for development only; do not quote these numbers.\n`;
  md += `\n## Machine\n\n`;
  md += `- CPU: ${env.cores} cores, ${env.cpuModel}; ${env.memGB} GB RAM; ${env.os}\n`;
  md += `- Node ${env.node}; open-file limit for both processes: ${env.fdLimit}\n`;
  md += `- Server pinned to core 0 and load generator to core 1 with \`taskset\`: ${env.pinned ? 'yes' : 'no (taskset missing, --no-pin or < 2 cores)'}\n`;
  md += `- Load average (1/5/15 min) before: ${load(env.loadBefore)}, after: ${load(env.loadAfter)}. The machine is shared; other agents' test suites may have run at the same time, which is why only ratios within one round are compared.\n`;
  md += `- Duration: ${env.durationSec ?? '?'} s\n`;
  md += `\n## Library versions\n\n| package | version |\n|---|---|\n`;
  for (const [k, v] of Object.entries(env.versions)) md += `| ${k} | ${v} |\n`;

  md += `\n## Method\n\n`;
  md += `- Every run starts a fresh **server process** (\`node --expose-gc bench/server.mjs --subject <s>\`) and a fresh **load-generator process** (\`bench/loadgen.mjs\`), on separate cores. Everything listens on 127.0.0.1 only.\n`;
  md += `- The load generator opens N raw TCP clients (\`node:net\`), each sending \`GET /events?channel=bench HTTP/1.1\` with \`Accept: text/event-stream\`. It parses the response head, decodes the body (chunked transfer encoding, or an identity body read until close), and parses the SSE stream per the WHATWG rules. Each event is \`event: tick\` with JSON data \`{"seq":<n>,"pad":"<40 × x>"}\`; every client must receive every seq exactly once and in order — lost, reordered or duplicated events, protocol errors and connections closed by the server are counted and make the subject **incorrect** in the tables.\n`;
  md += `- All publishes are triggered by the load generator through the server's control port (HTTP POST), so every timestamp comes from the load generator's clock.\n`;
  md += `- **Accept N**: time from the first connect until all N clients have a \`200\` response head (at most ${200} connects in flight).\n`;
  md += `- **Heap / RSS per idle connection**: the server reports \`process.memoryUsage()\` after three forced GCs (\`--expose-gc\`) before the clients connect and again after all N are registered and idle; the difference divided by N. Kernel socket buffers are not included.\n`;
  md += `- **1-event fan-out latency**: after ${5} warm-up events, ${config.repeats} times: publish one event, measure the time until the LAST of the N clients has parsed it; median and p99 over the repeats (p99 of ${config.repeats} samples is close to the maximum).\n`;
  md += `- **Burst deliveries/s**: publish K events in one synchronous loop (K = ${config.deliveries.toLocaleString('en-US')} / N, between 10 and 1000), measure the time until every client has all K; deliveries/s = N·K / time.\n`;
  md += `- **Server CPU per 1,000 deliveries**: \`process.cpuUsage()\` (user + system) of the server process from the burst's publish request to the end of the burst, divided by N·K / 1000. System time includes the loopback TCP stack on the sending side.\n`;
  md += `- ${config.rounds} interleaved round(s): each round runs every N, and for each N every subject once, in an order rotated per round. Each cell is the median over rounds; each ratio is the median of (subject ÷ \`raw\` from the same round and N). ⚠gen marks cells where the load generator used > 90 % of its core during the burst (the figure may be capped by the generator).\n`;
  md += `- This library runs with \`events({ keepAlive: false, maxBufferBytes: 1 << 20 })\`, imported from the built package (\`dist/\`).\n`;
  md += `- Before each run the orchestrator waits (at most 10 s, 4 min in total) for the machine to be quiet; a run during which other processes used more than 30 % of the machine is repeated once (at most 30 repeats in total). The remaining other load is shown per subject.\n`;
  md += `- Keep-alives are off where a library allows it; the original express-eventstream and @fanoutio/eventstream always run a 20 s keep-alive timer per connection (part of their cost).\n`;
  md += `- Subjects: ${subjects.map((s) => `\`${s}\` = ${subjectName(s, defs)} (${defs[s]?.framework})${defs[s]?.note ? ` — ${defs[s].note}` : ''}`).join('; ')}.\n`;

  md += `\n## Results\n`;
  md += renderTables(agg, subjects, Ns, defs);

  const rows = targetRows(agg, subjects, defs);
  if (rows.length && Ns.includes(TARGETS.n)) {
    md += `\n## Targets (N = ${TARGETS.n.toLocaleString('en-US')}, ratios to the raw \`res.write\` baseline)\n\n`;
    md += `| subject | burst ≥ ${TARGETS.burst}× | latency ≤ ${TARGETS.latency}× | CPU / delivery ≤ ${TARGETS.cpu}× | heap / idle conn ≤ ${TARGETS.heap}× | heap vs raw in an Express route | correct |\n|---|---|---|---|---|---|---|\n`;
    md += `${rows.join('\n')}\n`;
  }
  md += renderGrip(grip);
  // the sustained / storm / scale sections are written by their own benchmarks: keep them
  const kept = existsSync(file) ? sectionsOf(readFileSync(file, 'utf8')) : {};
  for (const k of SECTION_KEYS) if (kept[k]) md += `\n${kept[k]}\n`;
  // hand-written analysis, kept next to the generator so a re-run does not lose it
  const notes = path.join(path.dirname(new URL(import.meta.url).pathname), 'NOTES.md');
  if (existsSync(notes) && !config.quick) md += `\n${readFileSync(notes, 'utf8')}`;
  writeFileSync(file, md);
}
