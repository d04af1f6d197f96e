// Summarises a V8 .cpuprofile (from `node bench/run.mjs --profile <subject>`, which starts the
// server with --cpu-prof): self time per function and per file, top entries.
//
//   node bench/profile-summary.mjs bench/results/prof/<file>.cpuprofile [--top 25]

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
});
const file = positionals[0];
if (!file) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [--top N]');
  process.exit(2);
}
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const selfUs = new Map();
const deltas = prof.timeDeltas ?? [];
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i] ?? 0));
}
const total = [...selfUs.values()].reduce((x, y) => x + y, 0);

const shortUrl = (u) => {
  if (!u) return '(native)';
  const p = u.replace(/^file:\/\//, '');
  const nm = p.lastIndexOf('node_modules/');
  if (nm >= 0) return p.slice(nm + 13);
  if (p.startsWith('node:')) return p;
  return path.relative(process.cwd(), p);
};

const fn = new Map();
const files = new Map();
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  if (!n) continue;
  const cf = n.callFrame;
  const where = shortUrl(cf.url);
  const key = `${cf.functionName || '(anonymous)'}  ${where}:${cf.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  files.set(where, (files.get(where) ?? 0) + us);
}
const top = Number(a.top);
const show = (m, title) => {
  console.log(`\n${title} (total sampled ${(total / 1000).toFixed(0)} ms)`);
  for (const [k, us] of [...m].sort((x, y) => y[1] - x[1]).slice(0, top)) {
    console.log(
      `${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(1).padStart(8)} ms  ${k}`,
    );
  }
};
show(fn, 'self time by function');
show(files, 'self time by file');
