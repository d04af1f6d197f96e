// Issue 20, item 6: the public surface says what it means, seen through the built package.
// - Every error class keeps `instanceof` when an app loads the ESM and the CommonJS build side by
//   side (two copies of each class): checked in a plain Node child process.
// - Internals are not exports (the subpath entries reach them without them being public).
// - The published types are truthful: a Channel cannot be constructed (only events.channel()).
// - One options vocabulary: every entry names an unknown key's closest valid one alike.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));

beforeAll(() => {
  if (!existsSync(dist('index.js')) || !existsSync(dist('index.d.ts'))) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'pipe', timeout: 300_000 });
  }
}, 320_000);

/** Runs an ES module script with plain Node; resolves to the JSON it printed. */
async function node<T>(script: string): Promise<T> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    timeout: 30_000,
  });
  return JSON.parse(stdout) as T;
}

describe('error classes across the ESM and CommonJS copies', () => {
  it('an error of either copy is instanceof the same class of the other copy, and of no other class', async () => {
    const report = await node<
      Record<string, { same: boolean; base: boolean; other: boolean; crossed: boolean }>
    >(`
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const copies = {};
      for (const entry of ['index', 'redis']) {
        copies[entry] = { esm: await import(${JSON.stringify(dist(''))} + entry + '.js'), cjs: require(${JSON.stringify(dist(''))} + entry + '.cjs') };
      }
      // One instance of every error class, made by the given copy.
      const make = (core, redis) => ({
        InvalidEventError: new core.InvalidEventError('id', 'x'),
        DataSerializationError: new core.DataSerializationError('x'),
        InvalidChannelError: new core.InvalidChannelError('a,b', 'x'),
        InvalidOptionError: new core.InvalidOptionError('keepAlive', 'x'),
        EventTooLargeError: new core.EventTooLargeError(2, 1),
        EventsClosedError: new core.EventsClosedError(),
        EventStoreError: new core.EventStoreError({ cause: new Error('x') }),
        NoHistoryError: new core.NoHistoryError(),
        ListenerError: new core.ListenerError('connect', { cause: new Error('x') }),
        GripConfigError: new core.GripConfigError('x'),
        GripPublishError: new core.GripPublishError('http://127.0.0.1/publish/', 'x', { attempts: 1 }),
        RedisUnavailableError: new redis.RedisUnavailableError('append', { cause: new Error('x') }),
        RedisDataError: new redis.RedisDataError('append', 'ees:{events}:seq', 'is a list'),
      });
      const classOf = (name, core, redis) => (name.startsWith('Redis') ? redis : core)[name];
      const out = {};
      for (const [from, to] of [['cjs', 'esm'], ['esm', 'cjs']]) {
        const made = make(copies.index[from], copies.redis[from]);
        for (const [name, error] of Object.entries(made)) {
          const Same = classOf(name, copies.index[to], copies.redis[to]);
          const other = name === 'InvalidOptionError' ? copies.index[to].EventTooLargeError : copies.index[to].InvalidOptionError;
          out[from + ' ' + name] = {
            same: error instanceof Same,
            base: error instanceof copies.index[to].EventStreamError,
            other: error instanceof other,
            // A plain Error is none of them.
            crossed: new Error('x') instanceof copies.index[to].EventStreamError,
          };
        }
      }
      console.log(JSON.stringify(out));
    `);
    expect(Object.keys(report)).toHaveLength(26);
    for (const [name, result] of Object.entries(report)) {
      expect(result, name).toEqual({ same: true, base: true, other: false, crossed: false });
    }
  });
});

describe('internals are not exports', () => {
  it('the core and Redis entries export no encoder, client preset or legacy alias', async () => {
    const names = await node<{ index: string[]; redis: string[] }>(`
      const index = Object.keys(await import(${JSON.stringify(dist('index.js'))}));
      const redis = Object.keys(await import(${JSON.stringify(dist('redis.js'))}));
      console.log(JSON.stringify({ index, redis }));
    `);
    expect(names.index).not.toContain('encodeStoredEvent');
    expect(names.redis).not.toContain('encodeBusEvent');
    expect(names.redis).not.toContain('FAIL_FAST');
    expect(names.index).toContain('Events');
  });
});

describe('the published types are truthful', () => {
  /** Type-checks `code` against the built declarations, as a user's project would. */
  function diagnostics(code: string): string[] {
    const dir = mkdtempSync(join(tmpdir(), 'ees-types-'));
    try {
      const file = join(dir, 'app.ts');
      writeFileSync(file, code);
      const program = ts.createProgram([file], {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
        skipLibCheck: true,
        paths: {
          'express-eventstream': [dist('index.d.ts')],
          'express-eventstream/redis': [dist('redis.d.ts')],
        },
      });
      return ts
        .getPreEmitDiagnostics(program)
        .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('a Channel comes from events.channel() only: its constructor is not callable', () => {
    const ok = diagnostics(`
      import { type Channel, events } from 'express-eventstream';
      const c: Channel = events().channel('clock');
      void c.publish({ data: 1 });
    `);
    expect(ok).toEqual([]);
    const refused = diagnostics(`
      import { Channel } from 'express-eventstream';
      new Channel({ objectMode: true });
    `);
    expect(refused.join('\n')).toMatch(/private/);
  });
});

describe('one options vocabulary', () => {
  it('redis and metrics name the closest valid key as the core does', async () => {
    const messages = await node<Record<string, string>>(`
      import { events } from ${JSON.stringify(dist('index.js'))};
      import { redis, redisStore } from ${JSON.stringify(dist('redis.js'))};
      import { metrics } from ${JSON.stringify(dist('metrics.js'))};
      const message = (f) => { try { f(); return 'accepted'; } catch (e) { return e.code + ' ' + e.option + ': ' + e.message; } };
      console.log(JSON.stringify({
        core: message(() => events({ keepAlve: 1 })),
        store: message(() => redisStore({ url: 'redis://127.0.0.1:1', namespce: 'a' })),
        setup: message(() => redis({ url: 'redis://127.0.0.1:1', bus: { pageSze: 5 } })),
        metrics: message(() => metrics({ prefx: 'a_' })),
        range: message(() => metrics({ channelLabels: { max: 0 } })),
      }));
    `);
    expect(messages.core).toMatch(
      /^ERR_SSE_INVALID_OPTION keepAlve: unknown option 'keepAlve'; did you mean 'keepAlive'\?/,
    );
    expect(messages.store).toMatch(
      /^ERR_SSE_INVALID_OPTION namespce: unknown option 'namespce'; did you mean 'namespace'\?/,
    );
    expect(messages.setup).toMatch(
      /^ERR_SSE_INVALID_OPTION bus\.pageSze: unknown option 'bus\.pageSze'; did you mean 'bus\.pageSize'\?/,
    );
    expect(messages.metrics).toMatch(
      /^ERR_SSE_INVALID_OPTION prefx: unknown option 'prefx'; did you mean 'prefix'\?/,
    );
    expect(messages.range).toBe(
      'ERR_SSE_INVALID_OPTION channelLabels.max: channelLabels.max must be an integer from 1 to 10000, got 0',
    );
  });
});
