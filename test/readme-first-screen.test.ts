// The README's first screen, used as a reader uses it: its server.mjs block saved as that file
// and run with node, its curl commands run with curl. The only change is the port (3000 may be
// taken on a shared machine): the test replaces it and checks that it did.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { extractBlocks } from './helpers/doc-examples.js';
import { deadPort } from './helpers/net.js';

const root = fileURLToPath(new URL('..', import.meta.url));
// Inside the package, so `express-eventstream` resolves to the build by its name, as in an app.
const dir = fileURLToPath(new URL('../.tmp/readme-first-screen/', import.meta.url));
const blocks = extractBlocks(readFileSync(`${root}README.md`, 'utf8'), 'README.md');
const serverBlock = blocks.find((b) => b.lang === 'js' && b.code.startsWith('// server.mjs'));
const shellBlock = blocks.find((b) => b.lang === 'sh' && b.code.startsWith('node server.mjs'));

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill();
});

/** A child process whose output is collected; `waitFor` resolves once it printed `pattern`. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(command, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  const waiters: Array<() => void> = [];
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const w of waiters.splice(0)) w();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const waitFor = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${pattern} in:\n${output}`)), timeoutMs);
      const check = () => {
        if (pattern.test(output)) {
          clearTimeout(timer);
          resolve(output);
        } else waiters.push(check);
      };
      check();
    });
  return { child, output: () => output, waitFor, exited };
}

/** The shell block's command lines, with the port replaced and the trailing comments removed. */
function commands(port: number): string[][] {
  const lines = (shellBlock?.code ?? '').split('\n').map((l) => l.replace(/\s+#.*$/, '').trim());
  return lines.filter((l) => l.startsWith('curl')).map((l) => shellWords(l.replaceAll(':3000', `:${port}`)));
}

/** Splits a command line on spaces outside single quotes (all the README's lines need). */
function shellWords(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

async function startServer(env: NodeJS.ProcessEnv) {
  const port = await deadPort();
  const code = serverBlock?.code ?? '';
  const placed = code.replaceAll('3000', String(port));
  expect(placed.split(String(port)).length - 1).toBe(2); // app.listen and the logged URL
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}server.mjs`, placed);
  const server = run(process.execPath, ['server.mjs'], env);
  await server.waitFor(new RegExp(`listening on http://localhost:${port}`));
  return { port, server };
}

describe("the README's first screen", () => {
  it('has a server.mjs block and the commands to try it', () => {
    expect(serverBlock?.code).toMatch(/app\.listen\(3000/);
    expect(shellBlock?.code).toMatch(/curl -N/);
  });

  it("approves the package's build by the spec it is installed from (npm 11 keys a git dependency by it, not by name)", () => {
    for (const file of ['README.md', 'docs/getting-started.md']) {
      const shell = extractBlocks(readFileSync(`${root}${file}`, 'utf8'), file)
        .filter((b) => b.lang === 'sh')
        .map((b) => b.code)
        .join('\n');
      const installs = [...shell.matchAll(/^npm install (github:\S+)/gm)].map((m) => m[1]);
      const approvals = [...shell.matchAll(/^npm pkg set allowScripts\.(\S+)=true --json\b/gm)].map(
        (m) => m[1],
      );
      expect(installs, file).not.toEqual([]);
      expect(approvals, file).toEqual(installs);
    }
  });

  it('runs as shown: curl -N sees the clock tick and the message that the other curl publishes', async () => {
    const env = { ...process.env };
    delete env.GRIP_URL;
    const { port } = await startServer(env);
    const [watch, post] = commands(port);
    expect(watch?.[1]).toBe('-N');
    const stream = run('curl', (watch ?? []).slice(1));
    await stream.waitFor(/event: tick\ndata: "\d{4}-/);
    const posted = run('curl', [...(post ?? []).slice(1), '-s', '-o', '/dev/null', '-w', '%{http_code}']);
    expect(await posted.exited).toBe(0);
    expect(posted.output()).toBe('201');
    await stream.waitFor(/event: message\ndata: \{"text":"hi"\}/);
  }, 120_000);

  it('with the GRIP proxy down, the publish route answers 202 (stored, delivered here), not an error', async () => {
    const grip = `http://127.0.0.1:${await deadPort()}`;
    const { port } = await startServer({ ...process.env, GRIP_URL: grip });
    const [watch, post] = commands(port);
    const stream = run('curl', (watch ?? []).slice(1));
    await stream.waitFor(/event: stream-open/);
    const posted = run('curl', [...(post ?? []).slice(1), '-s', '-o', '/dev/null', '-w', '%{http_code}']);
    expect(await posted.exited).toBe(0);
    // A 5xx invites the client to retry, which would publish the event a second time.
    expect(posted.output()).toBe('202');
    await stream.waitFor(/event: message\ndata: \{"text":"hi"\}/);
  }, 120_000);
});
