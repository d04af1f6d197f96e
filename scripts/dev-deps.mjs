// The packages that tests, benchmarks and the docs site need live in dev/package.json, not in
// the root devDependencies: `npm install <git url>` installs a git dependency's devDependencies
// before running its `prepare`, so the root lists only what building the library takes.
//
// This script (run before `npm test`, `npm run docs`, `npm run bench`, lint and typecheck):
//  1. installs dev/ exactly from its lockfile (`npm ci --prefix dev`) unless dev/node_modules
//     already holds that lockfile's install;
//  2. links each top-level package and bin of dev/node_modules into the root node_modules
//     where the name is free. Every resolver then finds them the ordinary way: vitest and Node
//     for test files, child processes and dist/ (which imports peers), Bun, Deno, TypeScript,
//     and `npm run` for bins. A link resolves to its real path, so a linked package's own
//     dependencies come from dev/node_modules. Root packages win: one copy of each peer the
//     build also needs (fastify, ioredis, prom-client, express).
// The links are not in any lockfile: a root `npm ci` or `npm install` may remove them, and the
// next run of this script puts them back.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const dev = join(root, 'dev');
const devModules = join(dev, 'node_modules');
const rootModules = join(root, 'node_modules');
const stamp = join(devModules, '.installed-lock-sha256');

function lockDigest() {
  return createHash('sha256')
    .update(readFileSync(join(dev, 'package-lock.json')))
    .update(readFileSync(join(dev, 'package.json')))
    .digest('hex');
}

function ensureInstalled() {
  const digest = lockDigest();
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
  console.log('Installing the test, benchmark and docs packages (dev/package.json)...');
  const r = spawnSync('npm', ['ci', '--prefix', dev, '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  writeFileSync(stamp, digest);
}

/** Present as a file, directory or link (even a dangling one). */
function occupied(path) {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function link(from, to) {
  if (occupied(to)) return;
  symlinkSync(relative(join(to, '..'), from), to);
}

/** Top-level package directories of a node_modules, scoped ones as `@scope/name`. */
function packageNames(modules) {
  const names = [];
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      for (const sub of readdirSync(join(modules, entry))) names.push(`${entry}/${sub}`);
    } else {
      names.push(entry);
    }
  }
  return names;
}

function linkIntoRoot() {
  for (const name of packageNames(devModules)) {
    if (name.includes('/')) mkdirSync(join(rootModules, name.split('/')[0]), { recursive: true });
    link(join(devModules, name), join(rootModules, name));
  }
  const devBin = join(devModules, '.bin');
  if (!existsSync(devBin)) return;
  mkdirSync(join(rootModules, '.bin'), { recursive: true });
  for (const bin of readdirSync(devBin)) link(join(devBin, bin), join(rootModules, '.bin', bin));
}

ensureInstalled();
linkIntoRoot();
