import { defineConfig } from 'tsup';

export default defineConfig({
  // The Redis engine is its own entry; it imports the core by package name so both share one
  // copy of the core's classes (errors compare with instanceof across the two entries).
  entry: { index: 'src/index.ts', redis: 'src/redis/index.ts' },
  external: ['express-eventstream', 'ioredis'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
});
