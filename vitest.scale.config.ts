// `npm run test:scale`: tests at the issues' scale (test/scale/: 1,000 streams at 10,000 events/s),
// kept out of `npm test` because each takes about a minute and both cores. .ci/run runs them
// after `npm test`.
import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  ...base,
  test: { ...base.test, include: ['test/scale/**/*.test.ts'], exclude: configDefaults.exclude },
});
