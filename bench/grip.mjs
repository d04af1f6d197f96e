// GRIP benchmark: this library vs the original express-eventstream 2.0.2, each as the origin
// behind a real, private Pushpin (scripts/pushpin.mjs: loopback only, free ports, fresh dir).
//
// Per subject and round: fresh Pushpin + origin server process (core 0) + load generator in
// --mode grip (core 1) with M clients connected THROUGH Pushpin. After Pushpin has logged all
// M subscriptions the generator measures
//   - publish → client latency: the generator triggers one publish at the origin (control port)
//     and times until the LAST of the M clients has the event (median, p99 over repeats);
//   - highest sustained publish rate: the origin publishes at a fixed rate for a few seconds
//     (5 ms pacing timer; this library batches each tick's events into one publish request);
//     a rate is sustained when every client gets every event in order and the last event
//     arrives at most --max-lag ms after it was due. Rates step up until one fails.
// Pushpin itself runs unpinned (it has 4 processes of its own).
//
// Standalone: node bench/grip.mjs [--quick]

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNode, stop, watch } from './lib/proc.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);

const ALL_SUBJECTS = [
  { key: 'grip-lib', label: 'express-eventstream (this) via Pushpin' },
  { key: 'grip-original', label: 'express-eventstream 2.0.2 (original) via Pushpin' },
];

const SUBJECTS = process.env.GRIP_SUBJECTS
  ? ALL_SUBJECTS.filter((s) => process.env.GRIP_SUBJECTS?.split(',').includes(s.key))
  : ALL_SUBJECTS;

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function runOne(subject, { clients, repeats, rateMs, maxLag, pin }) {
  const { startPushpin, freePorts } = await import(path.join(root, 'scripts', 'pushpin.mjs'));
  const [httpPort, publishPort] = await freePorts(2);
  const gripUrl = `http://127.0.0.1:${publishPort}?key=changeme`;
  const server = spawnNode(['--expose-gc', path.join(here, 'server.mjs'), '--subject', subject], {
    cpu: pin ? 0 : null,
    env: { ...process.env, GRIP_URL: gripUrl },
  });
  const sw = watch(server);
  const run = { subject, clients, ok: false };
  let pp;
  try {
    const ready = JSON.parse((await sw.waitLine('READY ', 30_000)).slice(6));
    pp = await startPushpin({
      originPorts: [ready.port],
      httpPort,
      publishPort,
      readyPath: '/events?channel=bench',
    });
    const gen = spawnNode(
      [
        path.join(here, 'loadgen.mjs'),
        '--mode',
        'grip',
        '--port',
        String(pp.httpPort),
        '--ctl',
        String(ready.ctl),
        '--n',
        String(clients),
        '--repeats',
        String(repeats),
        '--warmup',
        '3',
        '--concurrency',
        '50',
        '--rate-ms',
        String(rateMs),
        '--max-lag',
        String(maxLag),
      ],
      { cpu: pin ? 1 : null },
    );
    const gw = watch(gen);
    const killer = setTimeout(() => gen.kill('SIGKILL'), 240_000);
    try {
      await gw.waitLine('CONNECTED', 60_000);
      await pp.waitForSubscription('events-bench', clients, 20_000);
      gen.stdin.write('GO\n');
      await gw.exited;
    } finally {
      clearTimeout(killer);
      await stop(gen, gw.exited, 1000);
    }
    const last = gw.lines.filter((l) => l.startsWith('{')).pop();
    if (!last) throw new Error(`load generator printed no result: ${gw.stderr.slice(-800)}`);
    Object.assign(run, JSON.parse(last));
  } catch (err) {
    run.ok = false;
    run.error = String(err?.message ?? err).slice(0, 2000);
  } finally {
    await stop(server, sw.exited);
    if (sw.stderr.trim()) run.serverStderr = sw.stderr.slice(-1500);
    if (pp) await pp.stop();
  }
  return run;
}

export async function runGrip({ quick = false, pin = true, rounds: roundsOpt } = {}) {
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync('which', ['pushpin'], { stdio: 'ignore' });
  } catch {
    return { ok: false, error: 'pushpin is not installed (not on PATH)' };
  }
  const opts = {
    clients: quick ? 20 : 100,
    repeats: quick ? 10 : 30,
    rateMs: quick ? 1500 : 3000,
    maxLag: 500,
    pin,
  };
  const rounds = roundsOpt ?? (quick ? 1 : 2);
  const runs = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? SUBJECTS : [...SUBJECTS].reverse();
    for (const s of order) {
      const run = await runOne(s.key, opts);
      run.round = r;
      runs.push(run);
      console.log(
        `  GRIP r${r} ${s.key.padEnd(14)} ${run.ok ? `lat ${run.latency.median?.toFixed(1)} ms, max rate ${run.maxSustainedRate}/s` : `FAILED ${run.error}`}`,
      );
    }
  }
  const rows = SUBJECTS.map((s) => {
    const mine = runs.filter((x) => x.subject === s.key && x.ok);
    const problems = [];
    for (const x of runs.filter((y) => y.subject === s.key)) {
      if (!x.ok) problems.push(`failed: ${x.error}`);
      if (x.latencyMissing) problems.push(`${x.latencyMissing} clients missed a latency event`);
      const bad = (x.rateSteps ?? []).filter((st) => st.rate <= (x.maxSustainedRate ?? 0) && !st.ok);
      if (bad.length) problems.push('loss below the sustained rate');
    }
    const crashes = runs
      .filter((x) => x.subject === s.key && x.originGone)
      .map((x) => {
        const err = /Error[^\n]*/.exec(x.serverStderr ?? '')?.[0] ?? x.originGone;
        const step = (x.rateSteps ?? []).find((st) => !st.ok);
        return `origin process died${step ? ` at ${step.rate}/s` : ''}: ${err}`;
      });
    const lastFail = mine
      .map((x) => (x.rateSteps ?? []).find((st) => !st.ok))
      .filter(Boolean)
      .map(
        (st) =>
          `${st.rate}/s: ${st.lost ? `${st.lost} lost, ` : ''}${st.missing ? `${st.missing} clients incomplete, ` : ''}lag ${st.lagMs === null ? '> timeout' : `${Math.round(st.lagMs)} ms`}`,
      );
    return {
      key: s.key,
      label: s.label,
      latMedian: median(mine.map((x) => x.latency?.median)),
      latP99: median(mine.map((x) => x.latency?.p99)),
      rate: median(mine.map((x) => x.maxSustainedRate)),
      deliveredNote:
        (lastFail.length ? lastFail.join('; ') : 'none up to the highest rate tried') +
        (crashes.length ? `; ${[...new Set(crashes)].join('; ')}` : ''),
      correct:
        mine.length === 0
          ? '**FAILED**'
          : problems.length
            ? `**NO** (${problems.join('; ')})`
            : `yes (${mine.length} runs)`,
    };
  });
  return {
    ok: runs.some((x) => x.ok),
    method: [
      `Each origin runs in its own process behind a fresh private Pushpin (\`scripts/pushpin.mjs\`, Debian package, loopback only); ${opts.clients} raw-TCP clients connect through Pushpin's HTTP port and the run starts once Pushpin's handler has logged all ${opts.clients} subscriptions.`,
      `**Latency**: the load generator triggers one publish at the origin and times until the LAST client has the event (publish API round trip + Pushpin fan-out); median and p99 over ${opts.repeats} repeats, median over ${rounds} round(s).`,
      `**Highest sustained publish rate**: the origin publishes at a fixed rate for ${opts.rateMs / 1000} s (paced by a 5 ms timer, so this library sends each tick's events as one batched publish request; the original sends one request per event, one at a time). A rate counts as sustained when all ${opts.clients} clients receive every event in order and the last one arrives ≤ ${opts.maxLag} ms after it was due. Rates step up (50 … 32,000/s) until one fails. Pushpin's own defaults apply (e.g. \`message_rate\`).`,
    ].join('\n\n'),
    rows,
    runs,
    notes: [],
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const quick = process.argv.includes('--quick');
  const res = await runGrip({ quick });
  console.log(JSON.stringify(res.rows, null, 1));
  if (process.argv.includes('--verbose')) console.log(JSON.stringify(res.runs, null, 1).slice(0, 6000));
}
