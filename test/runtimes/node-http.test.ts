// The built package (dist/) loaded by Node, Bun and Deno, serving its node:http handler on each
// runtime's own node:http implementation to a real SSE client.
import { fileURLToPath } from 'node:url';
import { remoteSuite } from '../helpers/remote-suite.js';
import { type Runtime, startRuntimeServer } from '../helpers/runtime.js';

const script = fileURLToPath(new URL('./fixtures/node-http-server.mjs', import.meta.url));
const dist = (file: string) => fileURLToPath(new URL(`../../dist/${file}`, import.meta.url));

const cases: [Runtime, string][] = [
  ['node', 'index.js'],
  ['bun', 'index.js'],
  ['deno', 'index.js'],
  // Bun and Deno also load the CommonJS build through import().
  ['bun', 'index.cjs'],
  ['deno', 'index.cjs'],
];

for (const [runtime, entry] of cases) {
  remoteSuite(
    `createHandler on ${runtime}'s node:http (dist/${entry})`,
    () => startRuntimeServer(runtime, script, { env: { EES_ENTRY: dist(entry), EES_MAX_BUFFER: '65536' } }),
    { stalledReader: entry === 'index.js' },
  );
}
