// What keeps objects alive: for every object of one constructor in a V8 heap snapshot, the
// shortest path from the GC roots (weak edges skipped), grouped by path. The evidence behind
// "node:http keeps the request reachable through socket._httpMessage / parser.incoming / …".
//
//   node bench/heap-retainers.mjs <file.heapsnapshot> <constructor> [--top 5]
//
// Snapshots: `node bench/scale.mjs` deletes its own after summarising; take one with the server's
// `POST /heap-snapshot?file=…` (bench/server.mjs) or `v8.writeHeapSnapshot()`.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Retaining paths of every object named `ctor`, grouped, most frequent first. */
export function retainers(file, ctor) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const NF = meta.node_fields.length;
  const EF = meta.edge_fields.length;
  const nType = meta.node_fields.indexOf('type');
  const nName = meta.node_fields.indexOf('name');
  const nEdges = meta.node_fields.indexOf('edge_count');
  const eType = meta.edge_fields.indexOf('type');
  const eName = meta.edge_fields.indexOf('name_or_index');
  const eTo = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snap;
  const count = nodes.length / NF;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += nodes[i * NF + nEdges] * EF;
    firstEdge[i + 1] = e;
  }
  // Breadth-first from the root (node 0): each object's parent on a shortest strong path.
  const parent = new Int32Array(count).fill(-1);
  const via = new Int32Array(count).fill(-1);
  parent[0] = 0;
  const queue = new Uint32Array(count);
  let tail = 0;
  queue[tail++] = 0;
  for (let head = 0; head < tail; head++) {
    const n = queue[head];
    for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += EF) {
      const type = edgeTypes[edges[e + eType]];
      if (type === 'weak' || type === 'shortcut') continue;
      const to = edges[e + eTo] / NF;
      if (parent[to] !== -1) continue;
      parent[to] = n;
      via[to] = e;
      queue[tail++] = to;
    }
  }
  const nodeLabel = (i) =>
    `${nodeTypes[nodes[i * NF + nType]]} ${String(strings[nodes[i * NF + nName]]).slice(0, 50)}`;
  const edgeLabel = (e) => {
    const type = edgeTypes[edges[e + eType]];
    const v = edges[e + eName];
    if (type === 'element' || type === 'hidden') return '[n]';
    return type === 'property' ? `.${strings[v]}` : `<${type}> ${strings[v]}`;
  };
  const groups = new Map();
  let total = 0;
  let unreachable = 0;
  for (let i = 0; i < count; i++) {
    if (nodeTypes[nodes[i * NF + nType]] !== 'object' || strings[nodes[i * NF + nName]] !== ctor) continue;
    total++;
    if (parent[i] === -1) {
      unreachable++;
      continue;
    }
    const steps = [];
    for (let n = i; n !== 0; n = parent[n]) steps.push(`${nodeLabel(parent[n])} ${edgeLabel(via[n])}`);
    // root bookkeeping nodes and internal edges carry per-object numbers: group them under one label
    const key = steps
      .reverse()
      .map((s) => s.replace(/\b\d+\b/g, 'n'))
      .join('\n    → ');
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  const paths = [...groups].sort((a, b) => b[1] - a[1]).map(([p, n]) => ({ count: n, path: p }));
  return { ctor, total, unreachable, paths };
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { values: a, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '5' } },
  });
  if (positionals.length !== 2) {
    console.error('usage: node bench/heap-retainers.mjs <file.heapsnapshot> <constructor> [--top 5]');
    process.exit(2);
  }
  const r = retainers(positionals[0], positionals[1]);
  console.log(`${r.total} ${r.ctor} objects (${r.unreachable} unreachable: garbage not yet collected)`);
  for (const { count, path: p } of r.paths.slice(0, Number(a.top))) console.log(`\n${count}×\n    ${p}`);
}
