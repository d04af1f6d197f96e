import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  // The subpath entries under src/integrations/ (redis, metrics, fetch, fastify, koa) import the core by
  // package name (so their builds share the core's classes). When tests run them, that name must
  // mean the core's sources too, or a test would mix two copies of the core; every other import
  // of the name (package tests) still gets the build.
  plugins: [
    {
      name: 'redis-engine-uses-core-sources',
      enforce: 'pre',
      resolveId(source: string, importer: string | undefined) {
        if (source === 'express-eventstream' && importer?.includes('/src/integrations/')) {
          return fileURLToPath(new URL('./src/index.ts', import.meta.url));
        }
        return undefined;
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    // `npm run test:next` (vitest.next.config.ts): next build is too slow for every run;
    // `npm run test:scale` (vitest.scale.config.ts): a minute and both cores each.
    exclude: [...configDefaults.exclude, 'test/next/**', 'test/scale/**'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
