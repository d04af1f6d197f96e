// Every code block of the README and docs/*.md is checked against the built package (see
// test/helpers/doc-examples.ts and docs/contributing.md), so documentation cannot drift from the
// API unnoticed.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkDirectives,
  checkMarkdownFiles,
  checkRelativeLinks,
  checkShell,
  extractBlocks,
  formatProblems,
  runBlocks,
  typeCheck,
} from './helpers/doc-examples.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const workDir = (name: string) => fileURLToPath(new URL(`../.tmp/${name}`, import.meta.url));
const markdown = [
  'README.md',
  ...readdirSync(new URL('../docs/', import.meta.url))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

beforeAll(() => {
  if (!existsSync(new URL('../dist/index.d.ts', import.meta.url))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
});

describe('documentation code blocks', () => {
  it('finds the README and the docs pages', () => {
    expect(markdown).toContain('README.md');
    expect(markdown.length).toBeGreaterThan(10);
  });

  it('every ts/js block type-checks (and runs where marked), every sh block names real scripts and paths', async () => {
    const problems = await checkMarkdownFiles(root, markdown, workDir('doc-examples'));
    expect(formatProblems(problems)).toBe('');
    // About 5 s of CPU; the margin is for a machine busy with other work.
  }, 240_000);

  it("the README's relative links point at existing files", () => {
    expect(formatProblems(checkRelativeLinks(root, 'README.md'))).toBe('');
  });
});

describe('the checker itself', () => {
  const sample = [
    'Intro.',
    '',
    '```ts',
    "import { events } from 'express-eventstream';",
    'events({ keepAliveEvery: 5 });',
    '```',
    '',
    '```js',
    "ev.publish('clock', { event: 'time' }); // type error",
    '```',
    '',
    '<!-- check: context',
    "declare const events: typeof import('express-eventstream').events;",
    '-->',
    '```ts',
    'const e = events<{ time: { value: string } }>();',
    "e.publish('clock', { event: 'time', data: 42 }); // type error",
    "e.publish('clock', { event: 'time', data: { value: 'x' } });",
    '```',
    '',
    '```sh',
    'npm run no-such-script && node examples/none/server.mjs',
    '```',
    '',
    '<!-- check: skip -->',
    '```ts',
    'not even code',
    '```',
    '',
    '<!-- check: run -->',
    '```ts',
    "import { events } from 'express-eventstream';",
    "await events().publish('a', { event: 'x', data: 1 });",
    "if (events().stats().connections !== 1) throw new Error('no connection');",
    '```',
  ].join('\n');
  const blocks = extractBlocks(sample, 'sample.md');

  it('extracts blocks with their language, line and directive', () => {
    expect(blocks.map((b) => [b.lang, b.line])).toEqual([
      ['ts', 4],
      ['js', 9],
      ['ts', 16],
      ['sh', 22],
      ['ts', 27],
      ['ts', 32],
    ]);
    expect(blocks[5]?.run).toBe(true);
    expect(blocks[2]?.context).toBe("declare const events: typeof import('express-eventstream').events;");
    expect(blocks[4]?.skip).toBe('');
  });

  it('reports a renamed option, and a `// type error` line that type-checks', () => {
    const problems = typeCheck(blocks, workDir('doc-examples-selftest'));
    expect(problems.map((p) => p.line).sort()).toEqual([5, 9]);
    expect(problems[0]?.message).toMatch(/keepAliveEvery/);
  });

  it('reports missing npm scripts and paths, and skips without a reason', () => {
    expect(checkShell(blocks, root).map((p) => p.message)).toEqual([
      'npm script "no-such-script" does not exist',
      'path examples/none/server.mjs does not exist',
    ]);
    expect(checkDirectives(blocks)).toHaveLength(1);
  });

  it('reports a context that hides setup (imports, statements), not one that only declares', () => {
    const hidden = extractBlocks(
      [
        '<!-- check: context',
        "import express from 'express';",
        'const app = express();',
        '-->',
        '```ts',
        'app.listen(3000);',
        '```',
        '<!-- check: context',
        'declare function showTime(value: string): void;',
        'interface BunServer { stop(): void }',
        '-->',
        '```ts',
        "showTime('now');",
        '```',
      ].join('\n'),
      'hidden.md',
    );
    expect(checkDirectives(hidden).map((p) => [p.line, p.message])).toEqual([
      [
        6,
        "`check: context` hides setup a reader cannot see (import express from 'express';): show it in the block",
      ],
    ]);
  });

  it('reports relative links to missing files, outside code blocks only', () => {
    mkdirSync(workDir('links-selftest'), { recursive: true });
    writeFileSync(
      `${workDir('links-selftest')}/page.md`,
      '[ok](../../package.json) [gone](./missing.md#x) [web](https://example.com/)\n```\n[x](./in-code.md)\n```\n',
    );
    expect(checkRelativeLinks(root, '.tmp/links-selftest/page.md').map((p) => p.message)).toEqual([
      'link target ./missing.md does not exist',
    ]);
  });

  it('runs the blocks marked run, and reports a failing one with its error', async () => {
    const problems = await runBlocks(blocks, workDir('doc-examples-selftest'));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.line).toBe(32);
    expect(problems[0]?.message).toMatch(/exited with 1[\s\S]*no connection/);
  });
});
