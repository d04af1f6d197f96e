// Reconnect-storm benchmark (issue 13), this library only (the peers have no resume):
//
//   npm run bench -- --storm [--subjects lib-http,lib-express] [--n 10000] [--missed 100]
//                    [--spread-ms 1000] [--rounds 1] [--no-report]
//   node bench/storm.mjs …   (same flags, and --label TEXT: names this run set in the report;
//                    --store-latency-ms M: the counting store answers each read after M ms)
//   node bench/storm.mjs --render a.json,b.json   (one section from several raw result files,
//                    e.g. the same storm on the code before and after a change, in that order)
//
// See storm-gen.mjs for the scenario. The server runs with a history store that counts its reads
// (bench/lib/counting-store.mjs). Results go to bench/results/storm-*.json and the `storm`
// section of BENCHMARKS.md.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { driverArgs } from './lib/driver-args.mjs';
import { canPin, median, runPair } from './lib/pair.mjs';
import { writeSection } from './lib/sections.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);

export const STORM_DEFAULTS = {
  subjects: ['lib-http', 'lib-express'],
  n: 10_000,
  missed: 100,
  spreadMs: 1000,
  liveRate: 10,
  rounds: 1,
  /** The counting store answers each read after this many ms; 0: in the next turn. */
  storeLatencyMs: 0,
};

/** @param {Partial<typeof STORM_DEFAULTS> & { pin?: boolean, report?: boolean, out?: string }} opts */
export async function runStorm(opts = {}) {
  const o = { ...STORM_DEFAULTS, ...opts };
  const { LIB_SUBJECTS } = await import('./lib-subjects.mjs');
  const pin = o.pin ?? canPin();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(path.join(here, 'results'), { recursive: true });
  const rawFile = path.join(here, 'results', `storm-${stamp}.json`);
  const config = { ...o, pin, commit: gitHead() };
  const runs = [];
  const t0 = Date.now();
  console.log(`storm: subjects=${o.subjects.join(',')} N=${o.n} missed=${o.missed} spread=${o.spreadMs} ms`);
  for (let r = 0; r < o.rounds; r++) {
    for (const s of o.subjects.map((_, i) => o.subjects[(i + r) % o.subjects.length])) {
      const loadStart = os.loadavg();
      const run = await runPair({
        subject: s,
        serverArgs: ['--counting-store', '--store-latency-ms', String(o.storeLatencyMs)],
        gen: 'storm-gen.mjs',
        genArgs: [
          '--n',
          String(o.n),
          '--missed',
          String(o.missed),
          '--spread-ms',
          String(o.spreadMs),
          '--live-rate',
          String(o.liveRate),
        ],
        pin,
        timeoutMs: 300_000,
      });
      Object.assign(run, { subject: s, round: r, load: { start: loadStart, end: os.loadavg() } });
      const st = run.storm;
      console.log(
        run.ok
          ? `  r${r} ${s}: all live ${st.allLiveMs?.toFixed(0)} ms, peak RSS ${(st.rssPeak / 2 ** 20).toFixed(0)} MB (+${((st.rssPeak - st.rssBefore) / 2 ** 20).toFixed(0)}), store reads ${st.storeReads}, lost ${run.verify.lost} dup ${run.verify.duplicated}`
          : `  r${r} ${s}: FAILED ${run.error}`,
      );
      runs.push(run);
      writeFileSync(rawFile, JSON.stringify({ config, runs }, null, 1));
    }
  }
  const durationSec = Math.round((Date.now() - t0) / 1000);
  const md = renderStorm({
    sets: [{ config, runs, durationSec, rawFile: path.relative(root, rawFile) }],
    defs: LIB_SUBJECTS,
  });
  if (o.report !== false) {
    const out = path.resolve(root, o.out ?? 'BENCHMARKS.md');
    writeSection(out, 'storm', md);
    console.log(`wrote the storm section of ${path.relative(root, out)} (${durationSec}s)`);
  } else console.log(md);
  return { runs, md };
}

const mb = (x) => (Number.isFinite(x) ? (x / 2 ** 20).toFixed(0) : '—');
const ms = (x) => (Number.isFinite(x) ? x.toFixed(0) : '—');

/** The commit of the library under test (this checkout), marked when src/ has uncommitted changes. */
function gitHead() {
  const git = (...args) =>
    execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return `${git('rev-parse', '--short=7', 'HEAD')}${git('status', '--porcelain', '--', 'src') ? '+changes' : ''}`;
  } catch {
    return undefined;
  }
}

const fixed = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '—');

/**
 * One report section from one or more run sets (each: the config, runs and raw file of one
 * runStorm call, e.g. the code before and after a change), rows in that order.
 * @param {{ sets: Array<{ config: any, runs: any[], durationSec?: number, rawFile?: string }>, defs: Record<string, { label: string }> }} o
 */
export function renderStorm({ sets, defs }) {
  const config = sets[0].config;
  const date = new Date().toISOString().slice(0, 10);
  let md = '## Reconnect storm (issue 13)\n\n';
  md += `Generated by \`npm run bench -- --storm\` (\`node bench/storm.mjs\`) on ${date}: ${sets
    .map(
      (set) =>
        `${set.config.label ? `**${set.config.label}**` : 'one run set'}${set.config.storeLatencyMs > 0 ? ` with the store answering after ${set.config.storeLatencyMs} ms` : ''} (commit ${set.config.commit ?? '?'}; ${set.config.rounds} round(s)${set.durationSec ? `, ${set.durationSec} s` : ''}${set.rawFile ? `; raw results \`${set.rawFile}\`, git-ignored` : ''})`,
    )
    .join('; ')}.\n\n`;
  md += `**Method.** One server process (core 0) and one load generator (core 1). ${config.n.toLocaleString('en-US')} raw SSE clients, each on 3 of 10 channels (client i: \`c{i mod 10}\`, \`c{i+1 mod 10}\`, \`c{i+2 mod 10}\`, so 10 distinct channel sets); event seq s goes to channel \`c{s mod 10}\`, one \`POST /publish-one\` request per event. After 20 warm-up events reached everyone, all client sockets are destroyed at once (the server must report 0 subscribers), ${config.missed} events are published to nobody, and then every client reconnects at a uniformly random moment within ${config.spreadMs} ms with \`Last-Event-ID\` = the last id it saw (all clients saw the same last id, so each channel set makes identical reads; the load generator draws the moments itself, as clients given a \`retry\` range would spread out). During the storm live events keep coming (${config.liveRate}/s). **All live** = from the storm's start until every client has every event it missed; **reconnect → live** = per client, from its reconnect to having every missed event. **Peak RSS** = the server's highest RSS sampled every 20 ms during the storm. **Store reads** = \`readAfter\` calls on the server's history, a counting in-memory store passed as \`history:\` (bench/lib/counting-store.mjs: a plain store of the \`EventStore\` contract that answers each read in the next turn of the event loop, or after the fixed delay in the *store answers* column, like a store across the network, so concurrent reads overlap); *distinct* = distinct (channels, position) pairs read, *most in flight* = the most reads the store had under way at once. **Correct** = after the storm and one more event per channel, every client has received every event of its 3 channels exactly once, in order, across both connections. **Load** = the machine's 1-minute load average (2 cores) when the run started and ended, and the share of the machine other processes used during it. No peers: none of them resumes from \`Last-Event-ID\`.\n\n`;
  md +=
    '| subject | code | store answers | clients | all live ms | reconnect → live p50 / p99 / max ms | last response head ms | peak RSS MB (before) | server CPU during the storm ms (user / system) | store reads (distinct, most in flight) | records read | events replayed | stream resets | correct | load 1-min start → end (others) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n';
  for (const s of config.subjects) {
    for (const set of sets) {
      for (const r of set.runs.filter((x) => x.subject === s)) {
        const code =
          `${set.config.label ?? ''}${set.config.commit ? ` (${set.config.commit})` : ''}`.trim() || '—';
        const answers = set.config.storeLatencyMs > 0 ? `after ${set.config.storeLatencyMs} ms` : 'next turn';
        const load = r.load
          ? `${fixed(r.load.start[0])} → ${fixed(r.load.end[0])} (${Number.isFinite(r.foreignLoad) ? `${(r.foreignLoad * 100).toFixed(0)} %` : '—'})`
          : '—';
        if (!r.ok) {
          md += `| ${defs[s]?.label ?? s} | ${code} | ${answers} | ${set.config.n} | **FAILED**: ${r.error} |||||||||| ${load} |\n`;
          continue;
        }
        const st = r.storm;
        const v = r.verify;
        const problems = [];
        if (!v.complete) problems.push(`${v.clientsShort} clients incomplete`);
        if (v.lost) problems.push(`lost ${v.lost}`);
        if (v.duplicated) problems.push(`${v.duplicated} duplicated/reordered`);
        if (v.wrongChannel) problems.push(`${v.wrongChannel} on a wrong channel`);
        if (v.closedEarly) problems.push(`${v.closedEarly} closed by server`);
        if (st.reconnectErrors)
          problems.push(`${st.reconnectErrors} reconnects failed (${st.firstReconnectError})`);
        if (v.publishErrors) problems.push(`${v.publishErrors} publish errors`);
        const l = st.reconnectToLive;
        md += `| ${defs[s]?.label ?? s} | ${code} | ${answers} | ${r.n.toLocaleString('en-US')} | ${st.allLiveMs === null ? `not all within the bound (${st.liveClients} live)` : ms(st.allLiveMs)} | ${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.max)} | ${ms(st.lastHeadMs)} | ${mb(st.rssPeak)} (${mb(st.rssBefore)}) | ${ms(st.serverCpuUs / 1000)} (${ms(st.serverUserUs / 1000)} / ${ms(st.serverSystemUs / 1000)}) | ${st.storeReads.toLocaleString('en-US')} (${st.storeDistinctReads}, ${st.storeMaxReadsInFlight}) | ${st.storeReadRecords.toLocaleString('en-US')} | ${st.eventsReplayed.toLocaleString('en-US')} | ${st.streamResets} | ${problems.length ? `**NO**: ${problems.join('; ')}` : `yes (${v.eventsReceived.toLocaleString('en-US')} events)`} | ${load} |\n`;
      }
    }
  }
  const medianOf = (set, s, f) => median(set.runs.filter((r) => r.subject === s && r.ok).map(f));
  md += `\nMedians over runs: ${sets
    .map(
      (set) =>
        `${set.config.label ?? 'runs'}${set.config.storeLatencyMs > 0 ? `, store ${set.config.storeLatencyMs} ms` : ''}: ${config.subjects
          .map(
            (s) =>
              `${s} all live ${ms(medianOf(set, s, (r) => r.storm.allLiveMs ?? Number.NaN))} ms, store reads ${Math.round(medianOf(set, s, (r) => r.storm.storeReads)).toLocaleString('en-US')}`,
          )
          .join(', ')}`,
    )
    .join('; ')}.\n`;
  return md;
}

/** Writes one section from raw result files of earlier runs (in the given order). */
async function renderFiles(files, out, report) {
  const { LIB_SUBJECTS } = await import('./lib-subjects.mjs');
  // Files of the same label and store latency (rounds run apart, e.g. interleaved) form one set.
  /** @type {Map<string, { config: any, runs: any[], rawFiles: string[] }>} */
  const groups = new Map();
  for (const f of files) {
    const { config, runs } = JSON.parse(readFileSync(f, 'utf8'));
    const key = JSON.stringify([config.label, config.storeLatencyMs ?? 0, config.n]);
    const g = groups.get(key) ?? {
      config: { ...config, rounds: 0, commit: undefined },
      runs: [],
      rawFiles: [],
    };
    g.config.rounds += config.rounds;
    // the same label over commits that differ only outside src/ (the bench itself)
    const commits = new Set([...(g.config.commit?.split(' / ') ?? []), config.commit ?? '?']);
    g.config.commit = [...commits].join(' / ');
    g.runs.push(...runs);
    g.rawFiles.push(path.relative(root, path.resolve(f)));
    groups.set(key, g);
  }
  const sets = [...groups.values()].map((g) => ({ ...g, rawFile: g.rawFiles.join('`, `') }));
  const md = renderStorm({ sets, defs: LIB_SUBJECTS });
  if (report) {
    const file = path.resolve(root, out ?? 'BENCHMARKS.md');
    writeSection(file, 'storm', md);
    console.log(`wrote the storm section of ${path.relative(root, file)} from ${files.length} file(s)`);
  } else console.log(md);
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { run, values: a } = driverArgs(
    {
      subjects: ['subjects', 'list'],
      n: ['n', 'number'],
      missed: ['missed', 'number'],
      'spread-ms': ['spreadMs', 'number'],
      'live-rate': ['liveRate', 'number'],
      'store-latency-ms': ['storeLatencyMs', 'number'],
      rounds: ['rounds', 'number'],
      label: ['label', 'string'],
    },
    { render: { type: 'string' } },
  );
  if (typeof a.render === 'string') await renderFiles(a.render.split(','), a.out, !a['no-report']);
  else await runStorm(run);
}
