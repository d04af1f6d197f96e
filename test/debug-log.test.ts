// Debug logging (issue 14): NODE_DEBUG=express-eventstream prints the lifecycle lines; the
// misconfiguration warnings (unreachable proxy, Grip-Sig key mismatch) appear exactly once per
// Events object, with or without NODE_DEBUG. A child process runs the built package.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('./fixtures/debug-app.mjs', import.meta.url));
const HOSTILE_SCRIPT = fileURLToPath(new URL('./fixtures/debug-hostile-app.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const DIST_CJS = fileURLToPath(new URL('../dist/index.cjs', import.meta.url));

async function runApp(
  nodeDebug: string | undefined,
  script = SCRIPT,
): Promise<{ stdout: string; stderr: string }> {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first (npm test does)`);
  const env: NodeJS.ProcessEnv = { ...process.env, DIST, DIST_CJS };
  delete env.NODE_DEBUG;
  delete env.NODE_OPTIONS;
  if (nodeDebug !== undefined) env.NODE_DEBUG = nodeDebug;
  const out = await run(process.execPath, [script], { env, timeout: 30_000 });
  expect(out.stdout).toContain('DONE');
  return out;
}

const count = (text: string, pattern: RegExp): number =>
  text.match(new RegExp(pattern, `${pattern.flags.replace('g', '')}g`))?.length ?? 0;

describe('NODE_DEBUG=express-eventstream', () => {
  it('prints one line per lifecycle step: connect, reset, disconnect, slow drop, GRIP retry and failure', async () => {
    const { stderr } = await runApp('express-eventstream');
    const lines = stderr.split('\n').filter((l) => /^EXPRESS-EVENTSTREAM \d+: /.test(l));
    const text = lines.join('\n');
    // A stream's connect and disconnect share its conn=<id>; the disconnect says for how long.
    const connect = text.match(/\[dbg\] conn=(\d+) connect from 127\.0\.0\.1 channels=a$/m);
    expect(connect).not.toBeNull();
    const id = connect?.[1];
    expect(text).toMatch(/\[dbg\] stream-reset reason=malformed-id channels=a via stream$/m);
    expect(text).toMatch(
      new RegExp(
        `\\[dbg\\] conn=${id} disconnect reason=client after \\d+ ms from 127\\.0\\.0\\.1 channels=a$`,
        'm',
      ),
    );
    // The resume is logged as answered with the reset, not as "replay 0 events" (a contradiction).
    expect(text).toMatch(/\[dbg\] resume after nope via stream answered with stream-reset$/m);
    expect(text).not.toMatch(/replay 0 events after nope/);
    expect(text).toMatch(/\[dbg\] slow client dropped: \d+ bytes buffered \(max 65536\) channels=s$/m);
    expect(text).toMatch(
      /\[dbg\] conn=\d+ disconnect reason=slow after \d+ ms from 127\.0\.0\.1 channels=s$/m,
    );
    expect(text).toMatch(/\[dbg-grip\] Grip-Sig rejected: invalid Grip-Sig: signature does not verify$/m);
    expect(
      count(
        text,
        /\[dbg-grip\] GRIP publish to http:\/\/127\.0\.0\.1:\d+\/publish\/ failed \(attempt 1: .*ECONNREFUSED.*\); retry in \d+ ms/,
      ),
    ).toBe(2);
    expect(count(text, /GRIP publish to \S+ gave up after 2 attempts/)).toBe(2);
    // Refused requests: status, method, path, peer and reason; never the query (tokens), never a
    // raw CR/LF from the path.
    expect(text).toMatch(
      /\[dbg\] refused 405 POST \/x%0d%0aFORGED from 127\.0\.0\.1: Method Not Allowed: POST; this endpoint serves GET$/m,
    );
    expect(text).toMatch(/\[dbg\] refused 400 GET \/ from 127\.0\.0\.1: Bad Request: .*channels/m);
    expect(stderr).not.toContain('s3cret-token');
    expect(stderr).not.toMatch(/^FORGED/m);
    // Per-batch steps are not logged (they would flood the log).
    expect(text).not.toMatch(/publish \[|deliver/);
  });

  it('the misconfiguration warnings appear once each, with and without NODE_DEBUG', async () => {
    for (const nodeDebug of ['express-eventstream', undefined]) {
      const { stderr } = await runApp(nodeDebug);
      expect(
        count(
          stderr,
          /\[EXPRESS_EVENTSTREAM_GRIP_UNREACHABLE\] ExpressEventStreamWarning: GRIP proxy unreachable/,
        ),
      ).toBe(1);
      expect(
        count(stderr, /\[EXPRESS_EVENTSTREAM_GRIP_SIG_KEY\] ExpressEventStreamWarning: Grip-Sig rejected/),
      ).toBe(1);
      if (nodeDebug === undefined) expect(stderr).not.toMatch(/EXPRESS-EVENTSTREAM \d+:/);
    }
  });
});

describe('NODE_DEBUG lines with hostile client values, ESM and CJS builds both loaded', () => {
  let stderr = '';
  let lines: string[] = [];
  beforeAll(async () => {
    ({ stderr } = await runApp('express-eventstream', HOSTILE_SCRIPT));
    lines = stderr.split('\n').filter((l) => l !== '');
  }, 40_000);

  it('escapes client values (no forged line, no terminal escape) and caps them at 200 characters', () => {
    // Every line of stderr is a debug line: nothing a client sent started a line of its own.
    for (const line of lines) expect(line).toMatch(/^EXPRESS-EVENTSTREAM \d+: \[(esm|cjs)\] /);
    expect(stderr).not.toContain('\u001b');
    expect(stderr).not.toMatch(/^EXPRESS-EVENTSTREAM \d+: \[esm\] connect channels=FORGED/m);
    expect(stderr).toContain(
      '[esm] resume after \\x0aEXPRESS-EVENTSTREAM 1: [esm] connect channels=FORGED\\x1b[2J via stream answered with stream-reset',
    );
    // The 12,000-character id: its first 200 characters and how many more there were.
    const long = lines.find((l) => l.includes('7777'));
    expect(long).toContain(`after ${'7'.repeat(200)}…(+11800 chars) via stream`);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(400);
  });

  it('an empty Last-Event-ID is a fresh connection: no replay line, no reset', () => {
    expect(stderr).toMatch(/\[esm\] conn=\d+ connect from \S+ channels=empty$/m);
    expect(stderr).toMatch(
      /\[esm\] conn=\d+ disconnect reason=client after \d+ ms from \S+ channels=empty$/m,
    );
    expect(stderr).not.toMatch(/after {2}via/);
    expect(count(stderr, /reset reason=\S+ channels=empty/)).toBe(0);
  });

  it('two copies of the package subscribe the log once: one line per step', () => {
    expect(count(stderr, /\[esm\] conn=\d+ connect from \S+ channels=plain$/m)).toBe(1);
    expect(
      count(stderr, /\[esm\] conn=\d+ disconnect reason=client after \d+ ms from \S+ channels=plain$/m),
    ).toBe(1);
    expect(count(stderr, /\[cjs\] conn=\d+ connect from \S+ channels=plain$/m)).toBe(1);
    expect(
      count(stderr, /\[cjs\] conn=\d+ disconnect reason=client after \d+ ms from \S+ channels=plain$/m),
    ).toBe(1);
  });
});
