import { defineConfig } from 'tsup';

// Two builds run side by side, so neither cleans dist/ (one would delete the other's files):
// `npm run build` empties it first (scripts/clean-dist.mjs).
export default defineConfig([
  {
    // The Redis engine is its own entry; it imports the core by package name so both share one
    // copy of the core's classes (errors compare with instanceof across the two entries). So does
    // the metrics entry.
    entry: { index: 'src/index.ts', redis: 'src/redis/index.ts', metrics: 'src/metrics.ts' },
    external: ['express-eventstream', 'ioredis', 'prom-client'],
    format: ['esm', 'cjs'],
    // `@internal` members (the Events core accessor, Channel's constructor) stay out of the .d.ts.
    dts: { compilerOptions: { stripInternal: true } },
    sourcemap: true,
    clean: false,
    target: 'node20',
    platform: 'node',
    splitting: false,
  },
  {
    // express-eventstream/client: runs in browsers, so no Node built-ins and an older target.
    entry: { 'client/index': 'src/client/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: false,
    target: 'es2020',
    platform: 'browser',
    splitting: false,
  },
]);
