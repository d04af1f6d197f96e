// "Nothing Node-only is loaded on the Fetch path": the built `express-eventstream/fetch` entry
// and everything it imports (the core, by package name) name no HTTP server module, and every
// built-in they do import keeps its `node:` prefix (Deno resolves built-ins only by it). Checked
// on the files users get (dist/), then in a Node process by what importing them loads.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = (file: string) => join(root, 'dist', file);
const FORBIDDEN = /^(node:)?(http|http2|net|https|tls)$|^express(\/|$)/;

/** Specifiers of static imports, re-exports, `import()` and `require()` in built JavaScript. */
function specifiers(code: string): string[] {
  const found: string[] = [];
  const patterns = [
    /(?:^|[\n;])\s*(?:import|export)\s[^'"`;]*?from\s*["']([^"']+)["']/g,
    /(?:^|[\n;])\s*import\s*["']([^"']+)["']/g,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) found.push(m[1]!);
  return found;
}

/** Every file reached from `entry` within the package, and the outside modules they import. */
function importGraph(entry: string, format: 'esm' | 'cjs'): { files: string[]; external: Set<string> } {
  const files = [entry];
  const external = new Set<string>();
  for (const file of files) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      let target: string | undefined;
      if (spec.startsWith('.')) target = join(dirname(file), spec);
      else if (spec === 'express-eventstream') target = dist(format === 'esm' ? 'index.js' : 'index.cjs');
      else if (spec.startsWith('express-eventstream/')) throw new Error(`${file} imports ${spec}`);
      if (target === undefined) external.add(spec);
      else if (!files.includes(target)) files.push(target);
    }
  }
  return { files, external };
}

describe('the Fetch entry loads nothing Node-only', () => {
  it.each([
    ['esm', 'fetch.js'],
    ['cjs', 'fetch.cjs'],
  ] as const)('%s: dist/%s and what it imports name no HTTP module or express', (format, file) => {
    expect(existsSync(dist(file)), 'run `npm run build` first').toBe(true);
    const { files, external } = importGraph(dist(file), format);
    // The entry re-exports the core, so the core's file is part of the graph that is checked.
    expect(files.map((f) => f.slice(root.length))).toContain(
      `dist/${format === 'esm' ? 'index.js' : 'index.cjs'}`,
    );
    expect([...external].filter((s) => FORBIDDEN.test(s))).toEqual([]);
    // Built-ins keep their prefix; the only other module is jose (loaded on first GRIP use).
    const bare = [...external].filter((s) => !s.startsWith('node:'));
    expect(bare).toEqual(['jose']);
    for (const spec of external) {
      if (spec.startsWith('node:')) expect(builtinModules).toContain(spec.slice(5));
    }
  });

  it('the walker finds static imports, re-exports, import() and require()', () => {
    expect(specifiers('import { ServerResponse } from "node:http";\nconst x = require("net");')).toEqual([
      'node:http',
      'net',
    ]);
    expect(specifiers('export { a } from "./b.js"; const j = await import("jose");')).toEqual([
      './b.js',
      'jose',
    ]);
  });

  it('importing express-eventstream and express-eventstream/fetch in Node loads no HTTP module', async () => {
    const source = `
const loaded = () => process.moduleLoadList.filter((m) => /^NativeModule (http|http2|https|net|tls|_http_\\w+)$/.test(m));
const before = loaded();
const core = await import('express-eventstream');
const fetchEntry = await import('express-eventstream/fetch');
const handler = fetchEntry.fetchHandler({ events: core.events({ keepAlive: false }) });
console.log(JSON.stringify({ before, after: loaded(), same: fetchEntry.fetchHandler === core.fetchHandler, handler: typeof handler }));
`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', source], { cwd: root });
    expect(JSON.parse(stdout)).toEqual({ before: [], after: [], same: true, handler: 'function' });
  });
});
