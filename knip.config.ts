// knip: unused files, exports and dependencies. The packages tests, benchmarks and the docs site
// import are listed in dev/package.json (installed on demand, scripts/dev-deps.mjs), not in the
// root manifest knip reads: they count as listed.
import { readFileSync } from 'node:fs';

const dev = JSON.parse(readFileSync(new URL('./dev/package.json', import.meta.url), 'utf8')) as {
  devDependencies: Record<string, string>;
};

export default {
  entry: [
    'test/**/*.ts',
    'test/**/*.mjs',
    'bench/**/*.mjs',
    'examples/**/*.{js,mjs,cjs,ts}',
    'scripts/**/*.mjs',
    'docs/.vitepress/config.mts',
  ],
  project: ['src/**/*.ts'],
  includeEntryExports: false,
  ignoreExportsUsedInFile: true,
  ignore: ['examples/**/public/**'],
  ignoreDependencies: Object.keys(dev.devDependencies),
  ignoreBinaries: ['vitest', 'biome', 'knip', 'typedoc', 'vitepress'],
};
