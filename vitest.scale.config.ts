// `npm run test:scale`: tests at the issues' scale (test/scale/: 1,000 streams at 10,000 events/s,
// revocation of 1,000 streams over 3 processes on Redis), kept out of `npm test` because they take
// minutes and both cores. .ci/run runs them after `npm test`.
import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  ...base,
  test: { ...base.test, include: ['test/scale/**/*.test.ts'], exclude: configDefaults.exclude },
});
