// `npm test`: make sure the real services exist, build the package (tests import the built
// dist/ as users do), type-check, then run the whole suite.
import { spawnSync } from 'node:child_process';
import { ensureSystemDependencies } from './system-deps.mjs';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

ensureSystemDependencies();
run('npm', ['run', '--silent', 'build']);
run('npm', ['run', '--silent', 'typecheck']);
run('npx', ['vitest', 'run', ...process.argv.slice(2)]);
