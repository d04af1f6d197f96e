// The built subpath `express-eventstream/redis`, resolved by package name from ESM and CommonJS:
// its errors extend the core's EventStreamError (one shared copy of the core, not a bundled one).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

const CHECK = `
const report = {
  kinds: ['redis', 'redisStore', 'redisBus', 'RedisStore', 'RedisBus', 'RedisUnavailableError'].map((k) => typeof redis[k]),
  shared: new redis.RedisUnavailableError('append', new Error('down')) instanceof core.EventStreamError,
  code: new redis.RedisUnavailableError('append', new Error('down')).code,
};
try { redis.redisStore({}); } catch (e) { report.invalid = e instanceof core.InvalidOptionError && e.code; }
try { redis.redis('http://x'); } catch (e) { report.setupInvalid = e instanceof core.InvalidOptionError && e.option; }
console.log(JSON.stringify(report));
`;

describe('express-eventstream/redis package entry', () => {
  it.each([
    [
      'esm',
      `const core = await import('express-eventstream'); const redis = await import('express-eventstream/redis');${CHECK}`,
    ],
    [
      'cjs',
      `const core = require('express-eventstream'); const redis = require('express-eventstream/redis');${CHECK}`,
    ],
  ])('%s', async (kind, source) => {
    expect(existsSync(new URL('../../dist/redis.js', import.meta.url))).toBe(true);
    const args = kind === 'esm' ? ['--input-type=module', '-e', source] : ['-e', source];
    const { stdout } = await run(process.execPath, args, { cwd: root });
    expect(JSON.parse(stdout)).toEqual({
      kinds: ['function', 'function', 'function', 'function', 'function', 'function'],
      shared: true,
      code: 'ERR_SSE_REDIS',
      invalid: 'ERR_SSE_INVALID_OPTION',
      setupInvalid: 'url',
    });
  });
});
