// The built subpath `express-eventstream/metrics`, resolved by package name from ESM and
// CommonJS: it counts Events objects of either build (diagnostics channels are process-wide
// names), and its errors are the core's classes (one shared copy of the core, not a bundled one).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

const CHECK = `
const registry = new prom.Registry();
const m = metrics.metrics({ registry });
const a = core.events({ name: 'same-build', keepAlive: false });
const b = other.events({ name: 'other-build', keepAlive: false });
await a.publish('x', { data: 1 });
await b.publish('x', { data: 2 });
await b.publish('x', { data: 3 });
const text = await registry.metrics();
const report = {
  kinds: ['metrics', 'metricsHandler'].map((k) => typeof metrics[k]),
  same: /express_eventstream_events_published_total\\{namespace="same-build"\\} 1/.test(text),
  other: /express_eventstream_events_published_total\\{namespace="other-build"\\} 2/.test(text),
};
try { metrics.metrics({ registry, prefix: 'bad prefix' }); } catch (e) { report.invalid = e instanceof core.InvalidOptionError && e.code; }
m.close();
await a.close();
await b.close();
console.log(JSON.stringify(report));
`;

describe('express-eventstream/metrics package entry', () => {
  it.each([
    [
      'esm',
      `import { createRequire } from 'node:module';
const core = await import('express-eventstream');
const other = createRequire(import.meta.url)('express-eventstream');
const metrics = await import('express-eventstream/metrics');
const prom = await import('prom-client');
${CHECK}`,
    ],
    [
      'cjs',
      `(async () => {
const core = require('express-eventstream');
const other = await import('express-eventstream');
const metrics = require('express-eventstream/metrics');
const prom = require('prom-client');
${CHECK}
})();`,
    ],
  ])('%s', async (kind, source) => {
    expect(existsSync(new URL('../dist/metrics.js', import.meta.url))).toBe(true);
    expect(existsSync(new URL('../dist/metrics.cjs', import.meta.url))).toBe(true);
    const args = kind === 'esm' ? ['--input-type=module', '-e', source] : ['-e', source];
    const { stdout } = await run(process.execPath, args, { cwd: root });
    expect(JSON.parse(stdout)).toEqual({
      kinds: ['function', 'function'],
      same: true,
      other: true,
      invalid: 'ERR_SSE_INVALID_OPTION',
    });
  });
});
