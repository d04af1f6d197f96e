// Where the memory per connection goes: diff of two V8 heap snapshots of the server (before the
// clients connect, and with N idle clients), grouped by constructor name (objects) or node type
// (strings, closures, arrays, code, …), per connection.
//
//   node bench/heap-summary.mjs <before.heapsnapshot> <after.heapsnapshot> --n 2000 [--top 25]
//
// `npm run bench -- --scale` takes the snapshots itself (server endpoint POST /heap-snapshot,
// which forces GCs and calls v8.writeHeapSnapshot) and puts this summary into BENCHMARKS.md.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Self size and count per group of one snapshot file. */
export function groupsOf(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const fields = meta.node_fields;
  const types = meta.node_types[0];
  const F = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const { nodes, strings } = snap;
  /** @type {Map<string, { size: number, count: number }>} */
  const groups = new Map();
  let total = 0;
  for (let i = 0; i < nodes.length; i += F) {
    const type = types[nodes[i + iType]];
    const size = nodes[i + iSize];
    total += size;
    let key;
    if (type === 'object') key = strings[nodes[i + iName]] || '(anonymous object)';
    else if (type === 'native') key = `(native) ${String(strings[nodes[i + iName]]).slice(0, 40)}`;
    else if (type === 'string' || type === 'concatenated string' || type === 'sliced string')
      key = '(strings)';
    else if (type === 'hidden' || type === 'array' || type === 'object shape')
      key = `(${type}) ${String(strings[nodes[i + iName]]).slice(0, 40)}`;
    else key = `(${type})`;
    const g = groups.get(key);
    if (g) {
      g.size += size;
      g.count++;
    } else groups.set(key, { size, count: 1 });
  }
  return { groups, total };
}

/** Per-connection difference between two snapshots, largest first. */
export function summarise(beforeFile, afterFile, n) {
  const b = groupsOf(beforeFile);
  const a = groupsOf(afterFile);
  const rows = [];
  for (const [key, g] of a.groups) {
    const o = b.groups.get(key) ?? { size: 0, count: 0 };
    const bytes = (g.size - o.size) / n;
    const count = (g.count - o.count) / n;
    if (Math.abs(bytes) >= 1) rows.push({ key, bytes, count });
  }
  rows.sort((x, y) => y.bytes - x.bytes);
  return { perConnection: (a.total - b.total) / n, rows };
}

export function renderSummary(s, top = 15) {
  let md = `Total: ${(s.perConnection / 1024).toFixed(2)} KB per connection.\n\n| constructor / kind | bytes per connection | objects per connection |\n|---|---|---|\n`;
  for (const r of s.rows.slice(0, top))
    md += `| \`${r.key.replace(/\|/g, '\\|')}\` | ${Math.round(r.bytes)} | ${r.count.toFixed(2)} |\n`;
  const rest = s.rows.slice(top).reduce((x, r) => x + r.bytes, 0);
  if (s.rows.length > top) md += `| (${s.rows.length - top} more) | ${Math.round(rest)} | |\n`;
  return md;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { values: a, positionals } = parseArgs({
    allowPositionals: true,
    options: { n: { type: 'string' }, top: { type: 'string', default: '25' } },
  });
  if (positionals.length !== 2 || !a.n) {
    console.error(
      'usage: node bench/heap-summary.mjs <before.heapsnapshot> <after.heapsnapshot> --n N [--top 25]',
    );
    process.exit(2);
  }
  console.log(renderSummary(summarise(positionals[0], positionals[1], Number(a.n)), Number(a.top)));
}
