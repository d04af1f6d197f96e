// Starts one of the examples as `npm run example:<name>` does (after the build), on a free port,
// as a child process stopped by PID. The "listening on" line is the one the basic demo prints.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type DemoProcess, startDemo } from '../browser/demo-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type ExampleProcess = DemoProcess;

/** `name` is the folder under examples/; `env` adds settings such as a faster tick. */
export async function startExample(name: string, env: Record<string, string> = {}): Promise<ExampleProcess> {
  // The pages load the built browser client (dist/client/index.js).
  if (!existsSync(`${ROOT}dist/client/index.js`)) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
  }
  return startDemo({ script: `${ROOT}examples/${name}/server.mjs`, env });
}
