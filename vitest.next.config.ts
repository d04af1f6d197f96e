// `npm run test:next`: the Next.js route-handler tests, kept out of `npm test` because
// `next build` alone takes ~45 s here (more under load). .ci/run runs them after `npm test`.
import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  ...base,
  test: { ...base.test, include: ['test/next/**/*.test.ts'], exclude: configDefaults.exclude },
});
