// What `npm pack` (and so `npm publish` and `npm install <git url>`) ships: the built dist/,
// README, LICENSE and CHANGELOG, nothing else; every "exports" target is in it; and the packed
// tarball, unpacked as a user's node_modules/express-eventstream, works from ESM and CommonJS,
// browser client included. Scripts are skipped (`--ignore-scripts`): `prepare` would rebuild
// dist/ under the other test files' feet; `npm test` has just built it.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

interface PackReport {
  filename: string;
  files: Array<{ path: string }>;
}

interface PackageJson {
  exports: Record<string, string | Record<string, Record<string, string>>>;
  scripts: Record<string, string>;
  license: string;
  repository: { url: string };
  homepage: string;
  bugs: { url: string };
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson;
let temp: string;

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/client/index.js')) || !existsSync(join(root, 'dist/index.js'))) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'pipe', timeout: 120_000 });
  }
  temp = await mkdtemp(join(tmpdir(), 'ees-pack-'));
}, 150_000);

afterAll(async () => {
  if (temp) await rm(temp, { recursive: true, force: true });
});

async function pack(...args: string[]): Promise<PackReport> {
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', ...args], {
    cwd: root,
    timeout: 60_000,
  });
  const [report] = JSON.parse(stdout) as PackReport[];
  return report!;
}

/** Every file an "exports" condition points at. */
function exportTargets(): string[] {
  const targets: string[] = [];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') targets.push(value.replace(/^\.\//, ''));
    else if (typeof value === 'object' && value !== null) for (const v of Object.values(value)) walk(v);
  };
  walk(pkg.exports);
  return targets;
}

describe('npm pack', () => {
  it('ships dist, README, LICENSE and CHANGELOG, and no sources, tests or tooling', async () => {
    const files = (await pack('--dry-run')).files.map((f) => f.path).sort();
    for (const required of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'dist/index.js',
      'dist/index.cjs',
      'dist/index.d.ts',
      'dist/index.d.cts',
      'dist/client/index.js',
      'dist/client/index.cjs',
      'dist/client/index.d.ts',
      'dist/client/index.d.cts',
    ]) {
      expect(files, required).toContain(required);
    }
    const extra = files.filter(
      (f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(f),
    );
    expect(extra).toEqual([]);
    for (const target of exportTargets()) expect(files, `exports target ${target}`).toContain(target);
  });

  it('declares what the registry page and `npm install <git url>` need', () => {
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) /);
    // A git install gets the sources only; `prepare` builds dist/ there (and before `npm pack`).
    expect(pkg.scripts.prepare).toBe('npm run build');
    expect(pkg.repository.url).toBe('git+https://github.com/fanout/express-eventstream.git');
    expect(pkg.homepage).toMatch(/^https:\/\/github\.com\/fanout\/express-eventstream/);
    expect(pkg.bugs.url).toBe('https://github.com/fanout/express-eventstream/issues');
    const changelog = readFileSync(join(root, 'CHANGELOG.md'), 'utf8');
    expect(changelog).toMatch(/^## \[3\.0\.0[^\]]*\]/m);
    expect(changelog).toMatch(/^## \[2\.0\.2\] - 2018-07-20$/m);
  });

  it('the browser client has no Node built-ins', () => {
    for (const file of ['dist/client/index.js', 'dist/client/index.cjs']) {
      const code = readFileSync(join(root, file), 'utf8');
      expect(code, file).not.toMatch(/\bnode:|require\(|\bprocess\.|\bBuffer\b/);
    }
  });

  it('the packed tarball works as node_modules/express-eventstream, server and client, ESM and CJS', async () => {
    const report = await pack('--pack-destination', temp);
    const app = join(temp, 'app');
    const installed = join(app, 'node_modules/express-eventstream');
    await mkdir(installed, { recursive: true });
    await run('tar', ['-xzf', join(temp, report.filename), '-C', installed, '--strip-components=1'], {
      timeout: 30_000,
    });
    // The one runtime dependency, from this checkout (no registry access in tests).
    await symlink(join(root, 'node_modules/jose'), join(app, 'node_modules/jose'), 'dir');
    const esm = `
      import { events, createHandler } from 'express-eventstream';
      import { connect } from 'express-eventstream/client';
      const ev = events({ keepAlive: false });
      console.log(JSON.stringify([typeof createHandler(({ events: ev })), typeof connect,
        import.meta.resolve('express-eventstream/client')]));
      await ev.close();`;
    const cjs = `
      const { events, createHandler } = require('express-eventstream');
      const { connect } = require('express-eventstream/client');
      const ev = events({ keepAlive: false });
      console.log(JSON.stringify([typeof createHandler({ events: ev }), typeof connect,
        require.resolve('express-eventstream/client')]));
      ev.close();`;
    for (const [type, script, file] of [
      ['module', esm, 'index.js'],
      ['commonjs', cjs, 'index.cjs'],
    ] as const) {
      const { stdout } = await run(process.execPath, [`--input-type=${type}`, '-e', script], {
        cwd: app,
        timeout: 30_000,
      });
      const [handler, connect, resolved] = JSON.parse(stdout.trim()) as [string, string, string];
      expect([handler, connect], type).toEqual(['function', 'function']);
      expect(resolved, type).toContain(`node_modules/express-eventstream/dist/client/${file}`);
    }
  });
});
