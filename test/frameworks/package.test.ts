// The built subpaths `express-eventstream/fastify`, `/koa` and `/fetch`, resolved by package name
// from ESM and CommonJS: they share the core's classes (one copy of the core) and load nothing of
// the frameworks themselves (optional peer dependencies, used for types only).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

const CHECK = `
const report = { kinds: [typeof fastify.fastifyHandler, typeof koa.koaMiddleware, typeof fetchEntry.fetchHandler] };
for (const [name, make] of [['fastify', fastify.fastifyHandler], ['koa', koa.koaMiddleware], ['fetch', fetchEntry.fetchHandler]]) {
  try { make({ events: {} }); } catch (e) { report[name] = e instanceof core.InvalidOptionError && e.code; }
}
report.handler = typeof fastify.fastifyHandler({ events: core.events() });
report.fetchIsCore = fetchEntry.fetchHandler === core.fetchHandler;
`;

describe('framework adapter package entries', () => {
  it.each([
    [
      'esm',
      `const core = await import('express-eventstream'); const fastify = await import('express-eventstream/fastify'); const koa = await import('express-eventstream/koa'); const fetchEntry = await import('express-eventstream/fetch');${CHECK}
console.log(JSON.stringify(report));`,
    ],
    [
      'cjs',
      `const core = require('express-eventstream'); const fastify = require('express-eventstream/fastify'); const koa = require('express-eventstream/koa'); const fetchEntry = require('express-eventstream/fetch');${CHECK}
report.frameworksLoaded = Object.keys(require.cache).filter((f) => /node_modules\\/(fastify|koa)\\//.test(f)).length;
console.log(JSON.stringify(report));`,
    ],
  ])('%s', async (kind, source) => {
    expect(existsSync(new URL('../../dist/fastify.js', import.meta.url))).toBe(true);
    const args = kind === 'esm' ? ['--input-type=module', '-e', source] : ['-e', source];
    const { stdout } = await run(process.execPath, args, { cwd: root });
    expect(JSON.parse(stdout)).toEqual({
      kinds: ['function', 'function', 'function'],
      fastify: 'ERR_SSE_INVALID_OPTION',
      koa: 'ERR_SSE_INVALID_OPTION',
      fetch: 'ERR_SSE_INVALID_OPTION',
      handler: 'function',
      fetchIsCore: true,
      ...(kind === 'cjs' && { frameworksLoaded: 0 }),
    });
  });
});
