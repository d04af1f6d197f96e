// Sustained-rate benchmark (issue 13): events arrive one per request at fixed rates.
//
//   npm run bench -- --sustained [--subjects raw,lib-http] [--n 1000,5000] [--rates 10,1000,5000,20000,max]
//                    [--rounds 1] [--step-ms 2000] [--conns 16] [--no-report]
//   node bench/sustained.mjs …   (same flags)
//
// Rounds are interleaved like the standard set: round r runs every N, and for each N every subject
// in an order rotated by r; ratios are to `raw` from the same round and N. Results go to
// bench/results/sustained-*.json and the `sustained` section of BENCHMARKS.md.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { driverArgs } from './lib/driver-args.mjs';
import { canPin, median, runPair } from './lib/pair.mjs';
import { writeSection } from './lib/sections.mjs';
import { STANDARD, SUBJECTS } from './subjects.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);

export const SUSTAINED_DEFAULTS = {
  subjects: STANDARD,
  Ns: [1000, 5000],
  rates: ['10', '1000', '5000', '20000', 'max'],
  rounds: 1,
  stepMs: 1500,
  conns: 16,
};

/** @param {Partial<typeof SUSTAINED_DEFAULTS> & { pin?: boolean, report?: boolean, out?: string }} opts */
export async function runSustained(opts = {}) {
  const o = { ...SUSTAINED_DEFAULTS, ...opts };
  const { LIB_SUBJECTS } = await import('./lib-subjects.mjs');
  const defs = { ...SUBJECTS, ...LIB_SUBJECTS };
  const subjects = o.subjects.includes('raw') ? o.subjects : ['raw', ...o.subjects];
  const pin = o.pin ?? canPin();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(path.join(here, 'results'), { recursive: true });
  const rawFile = path.join(here, 'results', `sustained-${stamp}.json`);
  const config = {
    subjects,
    Ns: o.Ns,
    rates: o.rates,
    rounds: o.rounds,
    stepMs: o.stepMs,
    conns: o.conns,
    pin,
  };
  const runs = [];
  const t0 = Date.now();
  console.log(
    `sustained: subjects=${subjects.join(',')} N=${o.Ns.join(',')} rates=${o.rates.join(',')} rounds=${o.rounds}`,
  );
  for (let r = 0; r < o.rounds; r++) {
    for (const n of o.Ns) {
      const order = subjects.map((_, i) => subjects[(i + r) % subjects.length]);
      for (const s of order) {
        console.log(`  r${r} N=${n} ${s}`);
        const run = await runPair({
          subject: s,
          gen: 'sustained-gen.mjs',
          genArgs: [
            '--n',
            String(n),
            '--rates',
            o.rates.join(','),
            '--step-ms',
            String(o.stepMs),
            '--conns',
            String(o.conns),
          ],
          pin,
          timeoutMs: 300_000,
        });
        Object.assign(run, { subject: s, n, round: r });
        if (!run.ok) console.log(`    FAILED: ${run.error}`);
        runs.push(run);
        writeFileSync(rawFile, JSON.stringify({ config, runs }, null, 1));
        await new Promise((res) => setTimeout(res, 300));
      }
    }
  }
  const durationSec = Math.round((Date.now() - t0) / 1000);
  writeFileSync(rawFile, JSON.stringify({ config, runs, durationSec }, null, 1));
  const md = renderSustained({ config, runs, defs, durationSec, rawFile: path.relative(root, rawFile) });
  if (o.report !== false) {
    const out = path.resolve(root, o.out ?? 'BENCHMARKS.md');
    writeSection(out, 'sustained', md);
    console.log(`wrote the sustained section of ${path.relative(root, out)} (${durationSec}s)`);
  } else console.log(md);
  return { runs, md };
}

const fmtK = (x) =>
  !Number.isFinite(x)
    ? '—'
    : x >= 1e6
      ? `${(x / 1e6).toFixed(2)}M`
      : x >= 1e4
        ? `${Math.round(x / 1000)}k`
        : x >= 1000
          ? `${(x / 1000).toFixed(1)}k`
          : x >= 100
            ? String(Math.round(x))
            : x.toFixed(1);
const fmtR = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const fmtMs = (x) =>
  !Number.isFinite(x) ? '—' : x < 10 ? x.toFixed(2) : x < 1000 ? x.toFixed(1) : `${(x / 1000).toFixed(2)} s`;

function problems(run) {
  if (!run.ok) return [`failed: ${run.error}`];
  const v = run.verify ?? {};
  const p = [];
  if (v.lost) p.push(`lost ${v.lost}`);
  if (v.reordered) p.push(`${v.reordered} reordered/duplicated`);
  if (v.protocolErrors) p.push(`${v.protocolErrors} protocol errors`);
  if (v.closedEarly) p.push(`${v.closedEarly} closed by server`);
  if (v.publishErrors) p.push(`${v.publishErrors} publish errors`);
  for (const s of run.steps ?? []) if (!s.drained) p.push(`rate ${s.rate}: not drained within the bound`);
  return p;
}

export function renderSustained({ config, runs, defs, durationSec, rawFile }) {
  const { subjects, Ns, rates } = config;
  const label = (s) => defs[s]?.label ?? s;
  const stepOf = (run, rate) => run?.ok !== false && run?.steps?.find((x) => x.rate === rate);
  let md = '## Sustained rate: one event per request (issue 13)\n\n';
  md += `Generated by \`npm run bench -- --sustained\` (\`node bench/sustained.mjs\`) on ${new Date().toISOString().slice(0, 10)}; ${config.rounds} round(s), ${durationSec} s. Raw results: \`${rawFile}\` (git-ignored).\n\n`;
  md +=
    '**Method.** The load generator (core 1) is both every SSE client and the publisher, so send and arrival times come from one clock. ';
  md += `It opens N raw SSE clients on channel \`bench\` and ${config.conns} persistent connections to the server's control port; each connection carries one \`POST /publish-one?seq=S\` at a time (answered 204 after \`publish()\` returns), so every event reaches the server (core 0) in its own request and I/O callback, as events from HTTP requests or a message bus do. `;
  md += `Each rate step sends for ${config.stepMs} ms, paced by a 1 ms timer with a credit bucket capped at ${config.conns} (open loop, no catch-up bursts); an event is not sent while all ${config.conns} connections are busy, so **sent/s** below the rate means the server pushed back. \`max\` sends whenever a connection is free. `;
  md +=
    "After sending stops the step waits (at most 30 s) until every client has every sent event. **Delivered events/s** = deliveries that arrived within the sending window ÷ N ÷ window. **Server CPU per delivery** = the server's user + system CPU from the step start until the last client had the last event ÷ (sent × N); it includes parsing the publish requests (the same for every subject). **Latency** = arrival − the moment the event's publish request was written, for every (client, event) pair, from a 2 %-resolution histogram: p50 / p99 / max over all deliveries of the step. ";
  md += `Ratios (×) are to \`raw\` from the same round and N (median over rounds). Every client must get every event once and in order.\n`;
  const agg = (s, n, rate, f) => {
    const vals = [];
    const ratios = [];
    for (let r = 0; r < config.rounds; r++) {
      const run = runs.find((x) => x.subject === s && x.n === n && x.round === r);
      const base = runs.find((x) => x.subject === 'raw' && x.n === n && x.round === r);
      const st = stepOf(run, rate);
      const bs = stepOf(base, rate);
      if (!st) continue;
      const v = f(st);
      vals.push(v);
      if (bs && Number.isFinite(f(bs)) && f(bs) !== 0) ratios.push(v / f(bs));
    }
    return { v: median(vals), r: median(ratios) };
  };
  for (const n of Ns) {
    md += `\n### N = ${n.toLocaleString('en-US')} clients\n\n`;
    md +=
      '| subject | rate (events/s) | sent/s | delivered events/s (× raw) | deliveries/s | server CPU µs / delivery (× raw) | user / system µs | latency p50 ms | p99 ms (× raw) | max ms | correct |\n|---|---|---|---|---|---|---|---|---|---|---|\n';
    for (const s of subjects) {
      const pr = runs.filter((x) => x.subject === s && x.n === n).flatMap(problems);
      for (const rate of rates) {
        const sent = agg(s, n, rate, (x) => x.sentPerSec);
        if (!Number.isFinite(sent.v)) continue;
        const del = agg(s, n, rate, (x) => x.deliveredPerSec);
        const dps = agg(s, n, rate, (x) => x.deliveriesPerSec);
        const cpu = agg(s, n, rate, (x) => x.cpuUsPerDelivery);
        const usr = agg(s, n, rate, (x) => x.userUsPerDelivery);
        const sys = agg(s, n, rate, (x) => x.systemUsPerDelivery);
        const p50 = agg(s, n, rate, (x) => x.latency.p50);
        const p99 = agg(s, n, rate, (x) => x.latency.p99);
        const mx = agg(s, n, rate, (x) => x.latency.max);
        const gen = agg(s, n, rate, (x) => x.genCpuShare);
        md += `| ${label(s)} | ${rate} | ${fmtK(sent.v)} | ${fmtK(del.v)} (${fmtR(del.r)})${gen.v > 0.9 ? ' ⚠gen' : ''} | ${fmtK(dps.v)} | ${cpu.v.toFixed(3)} (${fmtR(cpu.r)}) | ${usr.v.toFixed(3)} / ${sys.v.toFixed(3)} | ${fmtMs(p50.v)} | ${fmtMs(p99.v)} (${fmtR(p99.r)}) | ${fmtMs(mx.v)} | ${pr.length ? `**NO**: ${pr.join('; ')}` : 'yes'} |\n`;
      }
    }
  }
  md +=
    '\n⚠gen: the load generator used > 90 % of its core during the step (the figure may be capped by the generator).\n';
  return md;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { run, values: a } = driverArgs(
    {
      subjects: ['subjects', 'list'],
      n: ['Ns', 'numbers'],
      rates: ['rates', 'list'],
      rounds: ['rounds', 'number'],
      'step-ms': ['stepMs', 'number'],
      conns: ['conns', 'number'],
    },
    // rewrite the section from a saved (possibly partial) results file
    { from: { type: 'string' } },
  );
  if (typeof a.from === 'string') {
    const saved = JSON.parse(readFileSync(a.from, 'utf8'));
    const { LIB_SUBJECTS } = await import('./lib-subjects.mjs');
    const subjects = saved.config.subjects.filter((s) => saved.runs.some((r) => r.subject === s));
    const md = renderSustained({
      config: { ...saved.config, subjects },
      runs: saved.runs,
      defs: { ...SUBJECTS, ...LIB_SUBJECTS },
      durationSec: saved.durationSec ?? '?',
      rawFile: path.relative(root, path.resolve(a.from)),
    });
    writeSection(path.resolve(root, a.out ?? 'BENCHMARKS.md'), 'sustained', md);
    console.log(`wrote the sustained section from ${a.from}`);
    process.exit(0);
  }
  await runSustained(run);
}
