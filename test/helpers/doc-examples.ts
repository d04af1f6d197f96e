// Checks the fenced code blocks of the README and docs/*.md, so a renamed option or a removed
// script breaks the test suite instead of a reader's copy-paste. The convention is documented in
// docs/contributing.md ("Code blocks in the docs"); in short:
//   ts / js        type-checked with tsc against the BUILT package (resolved by its name, as a
//                  user resolves it). A block with its own import/require is checked as it stands;
//                  a fragment without one may use the names of FRAGMENT_GLOBALS below.
//                  A line ending in `// type error` must fail to type-check; no other line may.
//   sh             every `npm run X` / `npm start` / `npm test` names a script of package.json,
//                  every repository path it mentions (examples/…, test/…) exists.
//   json           must parse.
//   (README)       relative links must point at existing files (the site checks its own links).
//   anything else  (text, http, untagged: wire formats and config files) is shown, not run.
// A block may be preceded by an HTML comment (invisible on the site):
//   <!-- check: skip <reason> -->         not checked; the reason is required
//   <!-- check: run -->                   also run with node (ts/js; must exit 0 on its own)
//   <!-- check: context                   ambient declarations prepended to the block before
//   declare function showTime(value: string): void;   checking: only `declare`, `interface` and
//   -->                                    `type` (the reader's own functions, a runtime's globals);
//                                          imports and statements belong in the visible block
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

export interface CodeBlock {
  /** Markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the first code line in the markdown file. */
  line: number;
  lang: string;
  code: string;
  skip: string | undefined;
  context: string | undefined;
  /** `<!-- check: run -->`: executed as well as type-checked. */
  run: boolean;
}

export interface Problem {
  file: string;
  line: number;
  message: string;
}

const TYPED = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'cjs', 'mts', 'cts']);
const SHELL = new Set(['sh', 'bash', 'shell', 'console']);
const EXPECT_ERROR = /\/\/\s*type error\b/;
const DIRECTIVE = /^<!--\s*check:\s*(skip|context|run)\b([\s\S]*?)-->$/;

/** Names a fragment (a block without import or require) may use without declaring them. */
export const FRAGMENT_GLOBALS = `
import type { Express } from 'express';
import type * as Lib from 'express-eventstream';
declare global {
  /** The package's namespace: \`import * as eventstream from 'express-eventstream'\`. */
  const eventstream: typeof Lib;
  const events: typeof Lib.events;
  const createHandler: typeof Lib.createHandler;
  /** An Express application. */
  const app: Express;
  /** A GRIP_URL or nothing, as read from the environment. */
  const grip: string | undefined;
  /** An Events object. */
  const ev: Lib.Events;
}
export {};
`;

/** Every fenced block of a markdown text, with the check directive that precedes it. */
export function extractBlocks(markdown: string, file: string): CodeBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)/.exec(lines[i] ?? '');
    if (open === null) continue;
    const fence = open[2] ?? '```';
    const indent = (open[1] ?? '').length;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !(lines[j] ?? '').trimStart().startsWith(fence)) {
      body.push((lines[j] ?? '').slice(indent));
      j++;
    }
    const directive = directiveBefore(lines, i);
    blocks.push({
      file,
      line: i + 2,
      lang: (open[3] ?? '').toLowerCase(),
      code: body.join('\n'),
      skip: directive?.kind === 'skip' ? directive.text : undefined,
      context: directive?.kind === 'context' ? directive.text : undefined,
      run: directive?.kind === 'run',
    });
    i = j;
  }
  return blocks;
}

/** The `<!-- check: … -->` comment ending on the last non-blank line before `fenceLine`. */
function directiveBefore(lines: string[], fenceLine: number): { kind: string; text: string } | undefined {
  let end = fenceLine - 1;
  while (end >= 0 && (lines[end] ?? '').trim() === '') end--;
  if (end < 0 || !(lines[end] ?? '').trim().endsWith('-->')) return undefined;
  let start = end;
  while (start >= 0 && !(lines[start] ?? '').includes('<!--')) start--;
  if (start < 0) return undefined;
  const comment = lines
    .slice(start, end + 1)
    .join('\n')
    .trim();
  const m = DIRECTIVE.exec(comment);
  if (m === null) return undefined;
  return { kind: m[1] ?? '', text: (m[2] ?? '').replace(/^[ \t]*\n/, '').trim() };
}

/** A block that brings its own imports is checked as it stands; others are fragments. */
function isSelfContained(code: string): boolean {
  return /^\s*(import|export)\s/m.test(code) || /\brequire\(/.test(code);
}

function extensionFor(block: CodeBlock, code: string): string {
  const ts = ['ts', 'typescript', 'mts', 'cts'].includes(block.lang);
  const commonjs = block.lang === 'cjs' || block.lang === 'cts' || /\brequire\(/.test(code);
  if (ts) return commonjs ? '.cts' : '.mts';
  return commonjs ? '.cjs' : '.mjs';
}

interface Generated {
  block: CodeBlock;
  path: string;
  /** Lines prepended before the block's first line (the context). */
  offset: number;
  expected: Set<number>;
}

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  // Snippets run in Node and in browsers: both sets of globals.
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
  types: ['node'],
  strict: true,
  allowJs: true,
  checkJs: true,
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
  // Every snippet is its own module, even one without import or export.
  moduleDetection: ts.ModuleDetectionKind.Force,
};

/**
 * Type-check the ts/js blocks. The files are written under `workDir`, which must be inside the
 * package so that `import … from 'express-eventstream'` resolves to the built package through
 * its own `exports`, exactly as in a user's project.
 */
export function typeCheck(blocks: readonly CodeBlock[], workDir: string): Problem[] {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const contained: Generated[] = [];
  const fragments: Generated[] = [];
  blocks.forEach((block, n) => {
    if (block.skip !== undefined || !TYPED.has(block.lang)) return;
    const prefix = block.context === undefined ? '' : `${block.context}\n`;
    const code = prefix + block.code;
    const offset = prefix === '' ? 0 : prefix.split('\n').length - 1;
    const name = `${block.file.replace(/[^\w]+/g, '_')}_L${block.line}_${n}${extensionFor(block, code)}`;
    const path = join(workDir, name);
    writeFileSync(path, code);
    const expected = new Set<number>();
    block.code.split('\n').forEach((text, i) => {
      if (EXPECT_ERROR.test(text)) expected.add(i);
    });
    (isSelfContained(code) ? contained : fragments).push({ block, path, offset, expected });
  });
  const globals = join(workDir, 'fragment-globals.d.ts');
  writeFileSync(globals, FRAGMENT_GLOBALS);
  return [...compile(contained, []), ...compile(fragments, [globals])];
}

/**
 * Parsed declaration files (the TypeScript and DOM libs, @types/node, the package's own types),
 * shared by every program this process creates: parsing them is most of a program's cost.
 */
const sourceCache = new Map<string, ts.SourceFile>();
let cachingHost: ts.CompilerHost | undefined;

function host(): ts.CompilerHost {
  if (cachingHost !== undefined) return cachingHost;
  const base = ts.createCompilerHost(COMPILER_OPTIONS);
  cachingHost = {
    ...base,
    getSourceFile(fileName, languageVersion, onError, shouldCreate) {
      if (!fileName.endsWith('.d.ts') || fileName.includes('.tmp')) {
        return base.getSourceFile(fileName, languageVersion, onError, shouldCreate);
      }
      let file = sourceCache.get(fileName);
      if (file === undefined) {
        file = base.getSourceFile(fileName, languageVersion, onError, shouldCreate);
        if (file !== undefined) sourceCache.set(fileName, file);
      }
      return file;
    },
  };
  return cachingHost;
}

function compile(files: readonly Generated[], extra: readonly string[]): Problem[] {
  if (files.length === 0) return [];
  const program = ts.createProgram([...files.map((f) => f.path), ...extra], COMPILER_OPTIONS, host());
  const byPath = new Map(files.map((f) => [ts.sys.resolvePath(f.path), f]));
  const seen = new Map<Generated, Set<number>>();
  const problems: Problem[] = [];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    const gen = d.file === undefined ? undefined : byPath.get(ts.sys.resolvePath(d.file.fileName));
    if (d.file === undefined || gen === undefined || d.start === undefined) {
      problems.push({ file: d.file?.fileName ?? '(compiler)', line: 0, message });
      continue;
    }
    const blockLine = d.file.getLineAndCharacterOfPosition(d.start).line - gen.offset;
    if (gen.expected.has(blockLine)) {
      const hit = seen.get(gen) ?? new Set<number>();
      hit.add(blockLine);
      seen.set(gen, hit);
      continue;
    }
    problems.push({ file: gen.block.file, line: gen.block.line + blockLine, message });
  }
  for (const gen of files) {
    for (const line of gen.expected) {
      if (seen.get(gen)?.has(line) !== true) {
        problems.push({
          file: gen.block.file,
          line: gen.block.line + line,
          message: 'marked `// type error` but type-checks',
        });
      }
    }
  }
  return problems;
}

/**
 * Run the blocks marked `<!-- check: run -->` with node: each must exit 0 on its own. TypeScript
 * is stripped of its types first (type errors are `typeCheck`'s business). The files live in
 * `workDir` inside the package, so the package resolves by its name at run time too.
 */
export async function runBlocks(blocks: readonly CodeBlock[], workDir: string): Promise<Problem[]> {
  mkdirSync(workDir, { recursive: true });
  const queue = blocks
    .filter((b) => b.run && b.skip === undefined && TYPED.has(b.lang))
    .map((block, n) => () => runOne(block, n, workDir));
  // Two at a time: quick on an idle machine, and no pile-up of node processes on a busy one.
  const problems: Problem[] = [];
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) problems.push(...(await next()));
  };
  await Promise.all([worker(), worker()]);
  return problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

/** Generous: the limit only exists to catch an example that never exits. */
const RUN_TIMEOUT_MS = 60_000;

function runOne(block: CodeBlock, n: number, workDir: string): Promise<Problem[]> {
  const source = block.context === undefined ? block.code : `${block.context}\n${block.code}`;
  const commonjs = extensionFor(block, source).startsWith('.c');
  const js = ts.transpileModule(source, {
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: commonjs ? ts.ModuleKind.CommonJS : ts.ModuleKind.ESNext,
    },
  }).outputText;
  const name = `run_${block.file.replace(/[^\w]+/g, '_')}_L${block.line}_${n}${commonjs ? '.cjs' : '.mjs'}`;
  const path = join(workDir, name);
  writeFileSync(path, js);
  return new Promise((resolve) => {
    execFile(process.execPath, [path], { timeout: RUN_TIMEOUT_MS, cwd: workDir }, (err, _stdout, stderr) => {
      if (err === null) return resolve([]);
      const why = err.killed
        ? `did not exit within ${RUN_TIMEOUT_MS / 1000} s`
        : `exited with ${String(err.code)}`;
      const detail = stderr.trim().split('\n').slice(0, 6).join('\n');
      resolve([{ file: block.file, line: block.line, message: `run: ${why}${detail ? `\n${detail}` : ''}` }]);
    });
  });
}

/** The shell blocks' npm scripts and repository paths. */
export function checkShell(blocks: readonly CodeBlock[], root: string): Problem[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  const scripts = pkg.scripts ?? {};
  const problems: Problem[] = [];
  for (const block of blocks) {
    if (block.skip !== undefined || !SHELL.has(block.lang)) continue;
    block.code.split('\n').forEach((text, i) => {
      const line = block.line + i;
      const command = text.replace(/(^|\s)#.*$/, '');
      for (const m of command.matchAll(/\bnpm\s+(?:run(?:-script)?\s+([\w:.-]+)|(start|test)\b)/g)) {
        const script = m[1] ?? m[2] ?? '';
        if (!(script in scripts)) {
          problems.push({ file: block.file, line, message: `npm script "${script}" does not exist` });
        }
      }
      for (const m of command.matchAll(/(?:^|[\s=])((?:examples|test|scripts|bench|src|docs)\/[\w./-]*)/g)) {
        const path = (m[1] ?? '').replace(/[.,;:]+$/, '');
        if (!existsSync(join(root, path))) {
          problems.push({ file: block.file, line, message: `path ${path} does not exist` });
        }
      }
    });
  }
  return problems;
}

export function checkJson(blocks: readonly CodeBlock[]): Problem[] {
  const problems: Problem[] = [];
  for (const block of blocks) {
    if (block.skip !== undefined || block.lang !== 'json') continue;
    try {
      JSON.parse(block.code);
    } catch (err) {
      problems.push({
        file: block.file,
        line: block.line,
        message: `invalid JSON: ${(err as Error).message}`,
      });
    }
  }
  return problems;
}

/**
 * Relative links of a markdown file outside the docs site (the README): the target file must
 * exist. Links inside the site are checked by the VitePress build.
 */
export function checkRelativeLinks(root: string, file: string): Problem[] {
  const problems: Problem[] = [];
  const text = readFileSync(join(root, file), 'utf8');
  let inFence = false;
  text.split('\n').forEach((lineText, i) => {
    if (/^\s*(```|~~~)/.test(lineText)) inFence = !inFence;
    if (inFence) return;
    for (const m of lineText.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = (m[1] ?? '').split('#')[0] ?? '';
      if (target === '' || /^[a-z][\w+.-]*:/i.test(target)) continue;
      if (!existsSync(join(root, dirname(file), decodeURIComponent(target)))) {
        problems.push({ file, line: i + 1, message: `link target ${target} does not exist` });
      }
    }
  });
  return problems;
}

/** Skips must say why; a hidden context may only declare, never import or run anything. */
export function checkDirectives(blocks: readonly CodeBlock[]): Problem[] {
  const problems = blocks
    .filter((b) => b.skip !== undefined && b.skip.length < 5)
    .map((b) => ({ file: b.file, line: b.line, message: '`check: skip` needs a reason' }));
  for (const block of blocks) {
    if (block.context === undefined) continue;
    const hidden = hiddenSetup(block.context);
    if (hidden !== undefined) {
      problems.push({
        file: block.file,
        line: block.line,
        message: `\`check: context\` hides setup a reader cannot see (${hidden}): show it in the block`,
      });
    }
  }
  return problems;
}

/** The first statement of a context that is not an ambient declaration, or undefined. */
function hiddenSetup(context: string): string | undefined {
  const source = ts.createSourceFile('context.ts', context, ts.ScriptTarget.ES2022, true);
  for (const statement of source.statements) {
    if (ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement)) continue;
    const modifiers = ts.canHaveModifiers(statement) ? ts.getModifiers(statement) : undefined;
    if (modifiers?.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword) === true) continue;
    return statement.getText(source).split('\n')[0]?.slice(0, 60);
  }
  return undefined;
}

/** Every check over the given markdown files (paths relative to `root`). */
export async function checkMarkdownFiles(
  root: string,
  files: readonly string[],
  workDir: string,
): Promise<Problem[]> {
  const blocks = files.flatMap((f) =>
    extractBlocks(readFileSync(join(root, f), 'utf8'), relative(root, join(root, f))),
  );
  const typed = typeCheck(blocks, workDir);
  return [
    ...checkDirectives(blocks),
    ...typed,
    ...(await runBlocks(blocks, workDir)),
    ...checkShell(blocks, root),
    ...checkJson(blocks),
  ];
}

export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n');
}
