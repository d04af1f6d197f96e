// The API report of every entry point (api/<entry>.api.md), checked in `npm run lint`: any change
// to the public types shows up in review as a diff of these files. `--update` rewrites them.
//
// The reports are made from declarations emitted from src/ (tsconfig.api.json, `@internal`
// stripped as in the published .d.ts), not from dist/, so the check never reads a stale build.
// Each entry is analysed on its own; the core entry, which the subpaths import by package name,
// is external to them (its names appear as imports), as it is for a user.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const root = resolve(import.meta.dirname, '..');
const update = process.argv.includes('--update');
const out = join(root, '.tmp/api');
const dts = join(out, 'dts');

/** Report name → its declaration entry, as package.json's `exports` map them. */
const ENTRIES = {
  index: 'index.d.ts',
  fetch: 'integrations/fetch/index.d.ts',
  ai: 'integrations/ai/index.d.ts',
  redis: 'integrations/redis/index.d.ts',
  postgres: 'integrations/postgres/index.d.ts',
  mcp: 'integrations/mcp/index.d.ts',
  metrics: 'integrations/metrics/index.d.ts',
  fastify: 'integrations/fastify/index.d.ts',
  koa: 'integrations/koa/index.d.ts',
  client: 'client/index.d.ts',
  react: 'integrations/react/index.d.ts',
  vue: 'integrations/vue/index.d.ts',
  svelte: 'integrations/svelte/index.d.ts',
};

rmSync(out, { recursive: true, force: true });
const tsc = join(root, 'node_modules/typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.api.json')], { stdio: 'inherit' });
execFileSync(
  process.execPath,
  [
    tsc,
    '-p',
    join(root, 'src/client/tsconfig.json'),
    ...['--noEmit', 'false', '--emitDeclarationOnly', '--declaration', '--outDir', join(dts, 'client')],
  ],
  { stdio: 'inherit' },
);
for (const binding of ['react', 'vue']) {
  execFileSync(
    process.execPath,
    [
      tsc,
      '-p',
      join(root, `src/integrations/${binding}/tsconfig.json`),
      ...[
        '--noEmit',
        'false',
        '--emitDeclarationOnly',
        '--declaration',
        '--rootDir',
        join(root, 'src'),
        '--outDir',
        dts,
      ],
    ],
    { stdio: 'inherit' },
  );
}

// The subpaths import the core by package name: give them the emitted core as an installed
// package, so it is external to them as it is to a user (a package.json without a name above the
// declarations keeps TypeScript from resolving the name to this package's own dist/).
const installed = join(out, 'node_modules/express-eventstream');
cpSync(dts, installed, { recursive: true });
const manifest = (fields) => `${JSON.stringify({ type: 'module', ...fields })}\n`;
writeFileSync(
  join(installed, 'package.json'),
  manifest({
    name: 'express-eventstream',
    exports: { '.': { types: './index.d.ts' }, './client': { types: './client/index.d.ts' } },
  }),
);
writeFileSync(join(dts, 'package.json'), manifest({}));
mkdirSync(join(root, 'api'), { recursive: true });

const stale = [];
const problems = [];
for (const [name, entry] of Object.entries(ENTRIES)) {
  const client = ['client', 'react', 'vue', 'svelte'].includes(name);
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder: root,
      mainEntryPointFilePath: join(dts, entry),
      compiler: {
        overrideTsconfig: {
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            lib: client ? ['ES2022', 'DOM'] : ['ES2022'],
            types: client ? [] : ['node'],
            strict: true,
            skipLibCheck: true,
          },
          files: [join(dts, entry)],
        },
      },
      apiReport: {
        enabled: true,
        reportFileName: name,
        reportFolder: join(root, 'api'),
        reportTempFolder: join(out, 'report'),
      },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: 'warning' } },
        extractorMessageReporting: {
          default: { logLevel: 'warning' },
          // Release tags (@public/@beta) are not used: everything exported is public.
          'ae-missing-release-tag': { logLevel: 'none' },
          // Shown in the report itself (`// (undocumented)`), for the reviewer.
          'ae-undocumented': { logLevel: 'none' },
        },
        tsdocMessageReporting: { default: { logLevel: 'none' } },
      },
    },
    configObjectFullPath: undefined,
    packageJsonFullPath: join(root, 'package.json'),
  });
  const result = Extractor.invoke(config, {
    localBuild: update,
    messageCallback(message) {
      // Collected and printed once per entry below; the report changes are the news.
      const news = message.messageId.startsWith('console-');
      if (!news && (message.logLevel === 'warning' || message.logLevel === 'error')) {
        problems.push(`${name}: ${message.text} (${message.messageId})`);
      }
      message.handled = true;
    },
  });
  if (result.apiReportChanged) stale.push(name);
}

for (const p of problems) console.error(p);
if (stale.length > 0 && !update) {
  console.error(
    `api report: the public API of ${stale.join(', ')} changed; review the difference and run \`npm run api:update\` to accept it (api/*.api.md)`,
  );
  process.exit(1);
}
if (problems.length > 0) process.exit(1);
console.log(
  update
    ? `api report: ${stale.length === 0 ? 'no change' : `updated ${stale.join(', ')}`} (api/*.api.md)`
    : `api report: ${Object.keys(ENTRIES).length} entry points match api/*.api.md`,
);
