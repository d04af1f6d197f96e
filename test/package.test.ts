// The BUILT package as users consume it: resolved by name (package self-reference through
// package.json "exports") from ESM and from CommonJS, in plain Node child processes, plus an
// in-process import. `npm test` builds first; here we only build when dist/ is missing.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { startServer } from './helpers/server.js';
import { connect } from './helpers/sse-client.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));

const EXPORTED = [
  'events',
  'express',
  'createHandler',
  'Events',
  'Channel',
  'EVENT_STREAM_HEADERS',
  'EventStreamError',
  'InvalidEventError',
  'DataSerializationError',
  'InvalidChannelError',
  'InvalidOptionError',
  'EventsClosedError',
] as const;

const ERROR_CLASSES = [
  'InvalidEventError',
  'DataSerializationError',
  'InvalidChannelError',
  'InvalidOptionError',
  'EventsClosedError',
] as const;

/**
 * A tiny end-to-end run, the same for both module systems: `lib` and `http` are bound by the
 * caller (import or require). Prints one JSON report and exits.
 */
const E2E = `
const report = { resolved: RESOLVED, kinds: {}, errors: {} };
for (const name of ${JSON.stringify(EXPORTED)}) report.kinds[name] = typeof lib[name];
for (const name of ${JSON.stringify(ERROR_CLASSES)}) {
  const C = lib[name];
  const err = name === 'EventsClosedError' ? new C() : new C('x', 'message', undefined);
  report.errors[name] = { base: err instanceof lib.EventStreamError, isError: err instanceof Error, name: err.name, code: err.code };
}
const timer = setTimeout(() => { console.error('timed out'); process.exit(2); }, 15000);
const ev = lib.events({ keepAlive: false });
const server = http.createServer(lib.createHandler({ events: ev }));
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  http.get({ host: '127.0.0.1', port, path: '/?channel=pkg', headers: { accept: 'text/event-stream' } }, (res) => {
    report.status = res.statusCode;
    report.contentType = res.headers['content-type'];
    let body = '';
    let published = false;
    res.setEncoding('utf8');
    res.on('data', async (chunk) => {
      body += chunk;
      if (!published && body.includes('event: stream-open')) {
        published = true;
        try { await ev.publish('pkg', { event: 'x\\ny' }); } catch (e) {
          report.rejected = { invalidEvent: e instanceof lib.InvalidEventError, code: e.code };
        }
        await ev.publish('pkg', { event: 'hello', data: { from: MODE } });
      }
      if (body.includes('event: hello')) {
        report.body = body;
        report.stats = ev.stats();
        res.destroy();
        await ev.close();
        server.close(() => { clearTimeout(timer); console.log(JSON.stringify(report)); process.exit(0); });
      }
    });
  });
});
`;

interface Report {
  resolved: string;
  kinds: Record<string, string>;
  errors: Record<string, { base: boolean; isError: boolean; name: string; code: string }>;
  status: number;
  contentType: string;
  rejected: { invalidEvent: boolean; code: string };
  body: string;
  stats: { eventsPublished: number; eventsDelivered: number; publishErrors: number };
}

async function runNode(args: string[]): Promise<Report> {
  const { stdout } = await run(process.execPath, args, { cwd: root, timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Report;
}

function checkReport(report: Report, mode: string, entry: string): void {
  expect(fileURLToPath(new URL(report.resolved, 'file:///'))).toBe(dist(entry));
  for (const name of EXPORTED) {
    expect(report.kinds[name], name).toBe(name === 'EVENT_STREAM_HEADERS' ? 'object' : 'function');
  }
  for (const name of ERROR_CLASSES) {
    expect(report.errors[name], name).toMatchObject({ base: true, isError: true, name });
    expect(report.errors[name]!.code).toMatch(/^ERR_SSE_/);
  }
  expect(report.status).toBe(200);
  expect(report.contentType).toBe('text/event-stream; charset=utf-8');
  expect(report.rejected).toEqual({ invalidEvent: true, code: 'ERR_SSE_INVALID_EVENT' });
  expect(report.body).toMatch(/^event: stream-open\n/);
  expect(report.body).toContain(`event: hello\ndata: {"from":"${mode}"}\n\n`);
  expect(report.stats).toMatchObject({ eventsPublished: 1, eventsDelivered: 1, publishErrors: 1 });
}

beforeAll(() => {
  if (!existsSync(dist('index.js')) || !existsSync(dist('index.cjs'))) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'pipe', timeout: 120_000 });
  }
}, 150_000);

describe('the built package', () => {
  it('ships ESM, CJS and both declaration files, as package.json exports promise', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      name: string;
      exports: { '.': { import: Record<string, string>; require: Record<string, string> } };
    };
    expect(pkg.name).toBe('express-eventstream');
    const targets = [
      pkg.exports['.'].import.types,
      pkg.exports['.'].import.default,
      pkg.exports['.'].require.types,
      pkg.exports['.'].require.default,
    ];
    expect(targets).toEqual([
      './dist/index.d.ts',
      './dist/index.js',
      './dist/index.d.cts',
      './dist/index.cjs',
    ]);
    for (const file of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts']) {
      expect(existsSync(dist(file)), file).toBe(true);
    }
    for (const file of ['index.d.ts', 'index.d.cts']) {
      const dts = readFileSync(dist(file), 'utf8');
      for (const name of ['events', 'express', 'createHandler', 'InvalidEventError', 'EventsClosedError']) {
        expect(dts, `${file} declares ${name}`).toMatch(new RegExp(`\\b${name}\\b`));
      }
    }
    // The ESM build is ESM and the CJS build is CJS.
    expect(readFileSync(dist('index.js'), 'utf8')).toMatch(/^export \{/m);
    expect(readFileSync(dist('index.cjs'), 'utf8')).toMatch(/module\.exports/);
  });

  it('works from ESM: import("express-eventstream") in plain Node', async () => {
    const script = `import * as lib from 'express-eventstream';
import http from 'node:http';
const RESOLVED = import.meta.resolve('express-eventstream');
const MODE = 'esm';
${E2E}`;
    const report = await runNode(['--input-type=module', '-e', script]);
    checkReport(report, 'esm', 'index.js');
  });

  it('works from CommonJS: require("express-eventstream") in plain Node', async () => {
    const script = `'use strict';
const lib = require('express-eventstream');
const http = require('node:http');
const RESOLVED = require('node:url').pathToFileURL(require.resolve('express-eventstream')).href;
const MODE = 'cjs';
${E2E}`;
    const report = await runNode(['--input-type=commonjs', '-e', script]);
    checkReport(report, 'cjs', 'index.cjs');
  });

  it('imports by name in-process and serves a client', async () => {
    // A non-literal specifier: resolved at run time by package name, typed like the source.
    const specifier = 'express-eventstream';
    const lib = (await import(specifier)) as typeof import('../src/index.js');
    for (const name of EXPORTED) expect(lib[name], name).toBeDefined();
    // It is the build, not the source this test file sits next to.
    const source = await import('../src/index.js');
    expect(lib.Events).not.toBe(source.Events);
    const ev = lib.events({ keepAlive: false });
    const server = await startServer(lib.createHandler({ events: ev }));
    try {
      const c = await connect(server.url('/?channel=inproc'));
      await c.waitFor((x) => x.named('stream-open').length === 1, 5000, 'stream-open');
      await ev.publish('inproc', { event: 'hi', data: [1, 2] });
      await c.waitFor((x) => x.named('hi').length === 1, 5000, 'hi');
      expect(c.named('hi')[0]!.data).toBe('[1,2]');
      await expect(ev.publish('inproc', { event: 'bad\r' })).rejects.toBeInstanceOf(lib.InvalidEventError);
      c.close();
    } finally {
      await ev.close();
      await server.close();
    }
  });
});
