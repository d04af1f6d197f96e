// Architecture rules, checked in `npm run lint`:
//  0. floors: every folder of src/ is on one floor of FLOORS (below), and a module imports only
//     from its own floor or lower ones (type-only imports count); the subpath entries under
//     integrations/ import the core by package name, relatively only NO_COPY (constants, no
//     classes), and the browser client imports nothing outside client/ (its own build);
//  1. no import cycle between modules of src/ (type-only imports count: they couple modules too);
//  2. only src/transports/, src/adapters/ and src/integrations/ import node:http, node:http2 or express;
//  3. no module of src/ is longer than 300 lines (the browser client, one file by design, excepted);
//  4. node:http, node:http2 and node:net are imported for their types only (transports load
//     node:http on first use): importing the package loads no HTTP module, so the Fetch path
//     (integrations/fetch re-exports the index) never does;
//  5. the Fetch responder (adapters/fetch.ts) and every module it imports name none of them, nor
//     express, not even for types.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// `--src <dir>` checks another tree (the self-test runs it on a copy with a planted violation).
const at = process.argv.indexOf('--src');
const src = at > 0 ? resolve(process.argv[at + 1]) : resolve(import.meta.dirname, '..', 'src');
/**
 * The floors, bottom to top: the one place the allowed direction is written. `.` is the files
 * directly in src/ (the public barrel). A folder missing here fails the check: place it first.
 */
const FLOORS = [
  'base', // leaves: wire text, errors, shared types, option checks, channel names, log text
  'engine', // the shared-backend seam: EventStore, EventBus, control messages, state
  'history', // ids, cursors, resume and recovery over an EventStore; MemoryStore
  'protocol', // requests without any HTTP library: the decision and what it asks of GRIP
  'core', // publish pipeline, subscriptions, connections, the channel registry, diagnostics
  'grip', // the GRIP plug-in: Grip-Sig, hold instructions, the publisher
  'identity', // subscriber tokens, their expiry, revocation (over core's connections and the engine)
  'transports', // Transport implementations over node:http, HTTP/2 and web streams
  'presence', // a feature over the engine: who is subscribed to a channel, across processes
  'streams', // response streams: producers, readers and stop requests over the engine
  'compose', // the composition root: options → GRIP plug-in → pipeline → bus → hub = Events
  'adapters', // the in-core responders: node:http, Express, Fetch
  'integrations', // subpath entries importing the core by package name
  '.',
];
/** Modules without classes or run-time state that an integration may import relatively. */
const NO_COPY = new Set(['compose/internal-key.ts', 'base/error-brand.ts', 'base/stream-limits.ts']);
const SEPARATE = 'client'; // the browser client: its own build, imports only its own modules
const MAX_LINES = 300;
// The browser client is one file by design.
const LONG_OK = new Set(['client/index.ts']);
const HTTP_ONLY_IN = ['transports/', 'adapters/', 'integrations/'];
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
      problems.push(`${rel}: imports ${spec} (only src/transports, src/adapters and src/integrations may)`);
    }
    if (SERVER_MODULES.test(spec)) {
      named.push(spec);
      if (!typeOnly && spec !== 'express')
        problems.push(`${rel}: imports ${spec} at run time (types only: load it on first use)`);
    }
  }
  graph.set(rel, deps);
  serverImports.set(rel, named);
  if (rel.startsWith(`${SEPARATE}/`)) {
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[2] ?? m[3];
      const target = spec.startsWith('.') ? relative(src, resolve(dirname(file), spec)) : spec;
      if (!target.startsWith(`${SEPARATE}/`))
        problems.push(`${rel}: imports ${spec} (the browser client imports only client/ modules)`);
    }
  }
}

// Rule 0: floors.
const floorOf = (rel) => (rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : '.');
for (const [rel, deps] of graph) {
  const from = floorOf(rel);
  if (from === SEPARATE) continue;
  const level = FLOORS.indexOf(from);
  if (level < 0) {
    problems.push(`${rel}: src/${from}/ is on no floor (add it to FLOORS in scripts/check-architecture.mjs)`);
    continue;
  }
  for (const dep of deps) {
    const to = floorOf(dep);
    if (from === 'integrations' && to !== 'integrations' && !NO_COPY.has(dep))
      problems.push(
        `${rel}: imports ${dep} relatively (a second copy of the core: import 'express-eventstream')`,
      );
    else if (FLOORS.indexOf(to) > level)
      problems.push(`${rel}: imports ${dep}, from ${from}/ up to ${to}/ (floors: ${FLOORS.join(' < ')})`);
  }
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
  `architecture: ${graph.size} modules on ${FLOORS.length} floors, none importing upwards, no cycles, ` +
    'HTTP only in transports/adapters/integrations (types only), ' +
    `none of it among the ${reached.size} modules of the Fetch path`,
);
