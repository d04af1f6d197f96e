// `npm test`: make sure the real services exist, build the package (tests import the built
// dist/ as users do), type-check and lint, then run the whole suite.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { ensureSystemDependencies } from './system-deps.mjs';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  return r.status;
}

ensureSystemDependencies();
run('npm', ['run', '--silent', 'build']);
run('npm', ['run', '--silent', 'typecheck']);
run('npm', ['run', '--silent', 'lint']);
// The packed declarations in a strict consumer (skipLibCheck off), newest and oldest TypeScript.
run('npm', ['run', '--silent', 'check:types']);
// The docs site: API reference from the types, VitePress build (fails on dead links), anchor check.
run('npm', ['run', '--silent', 'docs']);

mkdirSync('test-artifacts', { recursive: true });
const report = 'test-artifacts/vitest.json';
const result = spawnSync(
  'npx',
  [
    'vitest',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile=${report}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
// A closing line in the plain "N passed, N failed" form that any CI log reader understands.
if (existsSync(report)) {
  const { numPassedTests, numFailedTests, numPendingTests } = JSON.parse(readFileSync(report, 'utf8'));
  console.log(`tests: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests} skipped`);
}
process.exit(result.status ?? 1);
