// Architecture rules, checked in `npm run lint`:
//  1. no import cycle between modules of src/ (type-only imports count: they couple modules too);
//  2. only src/transports/ and src/adapters/ import node:http, node:http2 or express;
//  3. no module of src/ is longer than 300 lines (the browser client, one file by design, excepted);
//  4. node:http, node:http2 and node:net are imported for their types only (transports load
//     node:http on first use): importing the package loads no HTTP module, so the Fetch path
//     (src/fetch.ts re-exports the index) never does;
//  5. the Fetch responder (adapters/fetch.ts) and every module it imports name none of them, nor
//     express, not even for types.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src');
const MAX_LINES = 300;
// The browser client is one file by design.
const LONG_OK = new Set(['client/index.ts']);
const HTTP_ONLY_IN = ['transports/', 'adapters/'];
const HTTP_MODULES = /^(node:)?(http|http2)$|^express$/;
const SERVER_MODULES = /^(node:)?(http|http2|net)$|^express$/;
const FETCH_ROOT = 'adapters/fetch.ts';

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const IMPORT = /(?:^|\n)\s*((?:import|export)\s[^;]*?)from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g;
const graph = new Map();
/** Module → the HTTP/server modules it names (for rule 5). */
const serverImports = new Map();
const problems = [];
for (const file of files(src)) {
  const rel = relative(src, file);
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n').length - 1;
  if (lines > MAX_LINES && !LONG_OK.has(rel))
    problems.push(`${rel}: ${lines} lines (more than ${MAX_LINES})`);
  const deps = [];
  const named = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[2] ?? m[3];
    const typeOnly = m[1] !== undefined && /^(import|export)\s+type\s/.test(m[1]);
    if (spec.startsWith('.')) deps.push(relative(src, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
    else if (HTTP_MODULES.test(spec) && !HTTP_ONLY_IN.some((d) => rel.startsWith(d))) {
      problems.push(`${rel}: imports ${spec} (only src/transports and src/adapters may)`);
    }
    if (SERVER_MODULES.test(spec)) {
      named.push(spec);
      if (!typeOnly && spec !== 'express')
        problems.push(`${rel}: imports ${spec} at run time (types only: load it on first use)`);
    }
  }
  graph.set(rel, deps);
  serverImports.set(rel, named);
}

// Depth-first search; a back edge to a module on the current path is a cycle.
const state = new Map();
const path = [];
function visit(node) {
  state.set(node, 'open');
  path.push(node);
  for (const dep of graph.get(node) ?? []) {
    if (state.get(dep) === 'open')
      problems.push(`import cycle: ${[...path.slice(path.indexOf(dep)), dep].join(' → ')}`);
    else if (!state.has(dep)) visit(dep);
  }
  path.pop();
  state.set(node, 'done');
}
for (const node of graph.keys()) if (!state.has(node)) visit(node);

// Rule 5: everything the Fetch responder reaches.
const reached = new Set([FETCH_ROOT]);
for (const node of reached) for (const dep of graph.get(node) ?? []) reached.add(dep);
if (!graph.has(FETCH_ROOT)) problems.push(`${FETCH_ROOT} is missing`);
for (const node of reached) {
  for (const spec of serverImports.get(node) ?? [])
    problems.push(`${node}: imports ${spec}, and the Fetch responder (${FETCH_ROOT}) imports ${node}`);
}

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log(
  `architecture: ${graph.size} modules, no cycles, HTTP only in transports/adapters (types only), ` +
    `none of it among the ${reached.size} modules of the Fetch path`,
);
