// The packed declarations, type-checked as a strict consumer sees them: `npm pack`, unpack into a
// temporary project's node_modules, import every entry point, and run `tsc` with
// `skipLibCheck: false` (so every .d.ts / .d.cts of the package and its peers is checked) for:
// ESM and CommonJS files under `module: nodenext`, and `moduleResolution: bundler` with the DOM
// lib. Each against the newest TypeScript and @types/node (devDependencies `typescript-next`,
// `@types/node-next`) and the oldest supported (`typescript-oldest`, the project's @types/node 20).
// The project's own tsconfig keeps `skipLibCheck: true`, which hid declaration errors.
//
// Usage: node scripts/check-consumer-types.mjs [newest|oldest] (after `npm run build`; `npm test`
// runs it).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const modules = join(root, 'node_modules');
// tsc prints the peers' files (reached through symlinks) relative to the consumer: ../../<root>/.
const upToRoot = new RegExp(`(?:\\.\\./)+${root.slice(1).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'g');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Entry points: every "exports" subpath but package.json, as a consumer writes them. */
const entries = Object.keys(pkg.exports)
  .filter((key) => key !== './package.json')
  .map((key) => (key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`));

const toolchains = [
  { name: 'newest', typescript: 'typescript-next', typesNode: '@types/node-next' },
  { name: 'oldest supported', typescript: 'typescript-oldest', typesNode: '@types/node' },
];

const strict = {
  strict: true,
  skipLibCheck: false,
  noEmit: true,
  target: 'ES2022',
  types: ['node'],
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
};

const projects = {
  // .mts resolves with the "import" conditions, .cts with "require": both declaration sets.
  nodenext: { files: ['esm.mts', 'cjs.cts'], options: { module: 'NodeNext', lib: ['ES2022'] } },
  bundler: {
    files: ['bundler.ts'],
    options: { module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM', 'DOM.Iterable'] },
  },
};

function versionOf(dir) {
  return JSON.parse(readFileSync(join(modules, dir, 'package.json'), 'utf8')).version;
}

/**
 * A consumer's source: every entry imported (each namespace used, so none is elided), and the
 * Events emitter typed as documented, declared events checked, other names allowed.
 */
function source(kind) {
  const names = entries.map((_, i) => `e${i}`);
  const imports = entries.map((entry, i) =>
    kind === 'cjs' ? `import ${names[i]} = require('${entry}');` : `import * as ${names[i]} from '${entry}';`,
  );
  const use = [
    `export const all = [${names.join(', ')}];`,
    'const ev = e0.events<{ tick: number }>();',
    "ev.on('disconnect', (info) => void info.reason);",
    "ev.emit('connect', { channels: ['a'] });",
    "ev.emit('custom', 1);",
    '// @ts-expect-error a declared event with the wrong arguments',
    "ev.emit('connect', 42);",
  ];
  return `${imports.join('\n')}\n${use.join('\n')}\n`;
}

const ERROR_LINE = /^(\S[^(]*)\(\d+,\d+\): error TS\d+/;

/** Errors in this package's declarations or the consumer's files, and those elsewhere. */
function classify(output) {
  const ours = [];
  const elsewhere = [];
  let current;
  for (const line of output.split('\n')) {
    const m = ERROR_LINE.exec(line);
    if (m) {
      const file = m[1];
      // Consumer files have no node_modules/ in their path; peers are reached through symlinks.
      current =
        file.startsWith(`node_modules/${pkg.name}/`) || !file.includes('node_modules/') ? ours : elsewhere;
    }
    if (current !== undefined && line !== '') current.push(line);
  }
  return { ours, elsewhere };
}

/**
 * node_modules of the consumer: the unpacked tarball, and the project's packages linked in
 * (peers' types: express, fastify, koa, ioredis, prom-client), with @types/node the chosen one.
 * `types: ['node']` and the `/// <reference types="node" />` of other @types packages both find
 * it first, in this typeRoot.
 */
function linkModules(dir, tarball, typesNode) {
  const target = join(dir, 'node_modules');
  mkdirSync(join(target, '@types'), { recursive: true });
  for (const name of readdirSync(modules)) {
    if (name.startsWith('.') || name === '@types' || name === pkg.name) continue;
    symlinkSync(join(modules, name), join(target, name));
  }
  for (const name of readdirSync(join(modules, '@types'))) {
    if (name === 'node' || name === 'node-next') continue;
    symlinkSync(join(modules, '@types', name), join(target, '@types', name));
  }
  symlinkSync(join(modules, typesNode), join(target, '@types', 'node'));
  const unpacked = join(target, pkg.name);
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', tarball, '-C', unpacked, '--strip-components=1']);
}

function countByFile(lines) {
  const counts = new Map();
  for (const line of lines) {
    const m = ERROR_LINE.exec(line);
    if (m) counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
  }
  return counts;
}

if (!existsSync(join(root, 'dist', 'index.d.ts'))) {
  console.error('check-consumer-types: dist/ has no declarations; run `npm run build` first');
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), 'ees-consumer-types-'));
let failed = 0;
try {
  const [report] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], {
      cwd: root,
      encoding: 'utf8',
    }),
  );
  const tarball = join(work, report.filename);
  const only = process.argv[2];
  for (const chain of toolchains.filter((c) => only === undefined || c.name.startsWith(only))) {
    const tsc = join(modules, chain.typescript, 'bin', 'tsc');
    const label = `TypeScript ${versionOf(chain.typescript)} + @types/node ${versionOf(chain.typesNode)} (${chain.name})`;
    const dir = join(work, chain.name.replace(/\W+/g, '-'));
    mkdirSync(dir);
    linkModules(dir, tarball, chain.typesNode);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    writeFileSync(join(dir, 'esm.mts'), source('esm'));
    writeFileSync(join(dir, 'cjs.cts'), source('cjs'));
    writeFileSync(join(dir, 'bundler.ts'), source('esm'));
    for (const [name, project] of Object.entries(projects)) {
      const config = `tsconfig.${name}.json`;
      const compilerOptions = { ...strict, ...project.options };
      writeFileSync(join(dir, config), JSON.stringify({ compilerOptions, files: project.files }, null, 2));
      const run = spawnSync(process.execPath, [tsc, '-p', config], { cwd: dir, encoding: 'utf8' });
      const output = `${run.stdout}${run.stderr}`.replaceAll(dir, '<consumer>').replace(upToRoot, '');
      const { ours, elsewhere } = classify(output);
      // A failed run without a single error line (tsc crashed, bad config) counts as ours.
      const ok = ours.length === 0 && (run.status === 0 || elsewhere.length > 0);
      if (!ok) failed++;
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}, ${name}: ${entries.length} entry points`);
      if (!ok) console.log(ours.length > 0 ? ours.join('\n') : output);
      // Errors between other packages (e.g. @types/koa against a newer content-disposition) are
      // the consumer's dependency tree, not these declarations: shown, not failed.
      for (const [file, count] of countByFile(elsewhere))
        console.log(`     (${count} in ${file}: not this package)`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (failed > 0) {
  console.error(`check-consumer-types: ${failed} configuration(s) failed`);
  process.exit(1);
}
