// The API reference of every entry point (`npm run docs` runs this before `vitepress build`):
// TypeDoc, with the options of typedoc.json, once per entry into docs/api/ (the core) and
// docs/api-<name>/ (each subpath export). The same list, with one line per entry, is the table on
// docs/reference.md; `node scripts/api-docs.mjs --check` verifies that the table names every entry.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { barrelExports, groupedIndex, shortenedIndex } from './api-index.mjs';

const root = join(import.meta.dirname, '..');

/** Every public entry: its subpath (`''` for the core) and its source. */
const ENTRIES = [
  { subpath: '', source: 'src/index.ts' },
  { subpath: 'client', source: 'src/client/index.ts' },
  // The React and Vue entries have their own programs (JSX, the DOM), as `npm run typecheck` checks them.
  { subpath: 'react', source: 'src/integrations/react/index.ts', options: 'typedoc.react.json' },
  { subpath: 'vue', source: 'src/integrations/vue/index.ts', options: 'typedoc.vue.json' },
  { subpath: 'svelte', source: 'src/integrations/svelte/index.ts' },
  { subpath: 'fetch', source: 'src/integrations/fetch/index.ts' },
  { subpath: 'fastify', source: 'src/integrations/fastify/index.ts' },
  { subpath: 'koa', source: 'src/integrations/koa/index.ts' },
  { subpath: 'redis', source: 'src/integrations/redis/index.ts' },
  { subpath: 'postgres', source: 'src/integrations/postgres/index.ts' },
  { subpath: 'metrics', source: 'src/integrations/metrics/index.ts' },
  { subpath: 'ai', source: 'src/integrations/ai/index.ts' },
  { subpath: 'mcp', source: 'src/integrations/mcp/index.ts' },
];

/** The line under the core index's title. */
const CORE_INTRO =
  'Everything `import … from "express-eventstream"` gives you, by task; each name links to its page. ' +
  '[API reference](../reference.md) lists the other entry points.';

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const reference = readFileSync(join(root, 'docs/reference.md'), 'utf8');
const problems = [];
for (const { subpath } of ENTRIES) {
  const key = subpath === '' ? '.' : `./${subpath}`;
  if (pkg.exports[key] === undefined) problems.push(`package.json exports has no "${key}"`);
  const dir = subpath === '' ? 'api' : `api-${subpath}`;
  if (!reference.includes(`/${dir}/`)) problems.push(`docs/reference.md does not link /${dir}/`);
}
for (const key of Object.keys(pkg.exports)) {
  if (key === './package.json') continue;
  const subpath = key === '.' ? '' : key.slice(2);
  if (!ENTRIES.some((e) => e.subpath === subpath)) problems.push(`entry "${key}" has no API reference here`);
}
if (problems.length > 0) {
  console.error(`API reference:\n${problems.join('\n')}`);
  process.exit(1);
}
if (process.argv.includes('--check')) process.exit(0);

const typedoc = join(root, 'node_modules/.bin/typedoc');
for (const { subpath, source, options = 'typedoc.json' } of ENTRIES) {
  const name = subpath === '' ? 'express-eventstream' : `express-eventstream/${subpath}`;
  const out = subpath === '' ? 'docs/api' : `docs/api-${subpath}`;
  const args = ['--options', options, '--entryPoints', source, '--out', out, '--name', name];
  const run = spawnSync(typedoc, args, { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) {
    console.error(`typedoc failed for ${name}`);
    process.exit(run.status ?? 1);
  }
  // The index: one line per item; the core's grouped by what a reader looks for (scripts/api-index.mjs).
  const index = join(root, out, 'index.md');
  const generated = readFileSync(index, 'utf8');
  try {
    const barrel = () => barrelExports(readFileSync(join(root, source), 'utf8'));
    writeFileSync(
      index,
      subpath === '' ? groupedIndex(generated, barrel(), CORE_INTRO) : shortenedIndex(generated),
    );
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
