// Issue 9, defect 12: an app that loads both builds (ESM via import, CommonJS via require) has
// two copies of every class. An Events object from either copy must be served by the other's
// createHandler() and express(). Plain Node child process, the built dist/.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));

beforeAll(() => {
  if (!existsSync(dist('index.js')) || !existsSync(dist('index.cjs'))) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'pipe', timeout: 120_000 });
  }
}, 150_000);

const SCRIPT = `
import http from 'node:http';
import { createRequire } from 'node:module';
import * as esm from ${JSON.stringify(dist('index.js'))};
const cjs = createRequire(import.meta.url)(${JSON.stringify(dist('index.cjs'))});

/** Serve ev with handler, subscribe, publish one event, and return what the client read. */
async function roundTrip(ev, handler) {
  const server = http.createServer(handler).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address();
  const body = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/?channel=mix', headers: { accept: 'text/event-stream' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
        if (text.includes('event: stream-open') && !text.includes('event: hello')) ev.publish('mix', { event: 'hello' });
        if (text.includes('event: hello')) { res.destroy(); resolve(text); }
      });
    }).on('error', reject);
  });
  await ev.close();
  server.closeAllConnections();
  server.close();
  return body.includes('event: hello');
}

const report = { distinctClasses: esm.Events !== cjs.Events };
let ev = esm.events({ keepAlive: false });
report.esmEventsCjsHandler = await roundTrip(ev, cjs.createHandler({ events: ev }));
ev = cjs.events({ keepAlive: false });
report.cjsEventsEsmHandler = await roundTrip(ev, esm.createHandler({ events: ev }));
ev = esm.events({ keepAlive: false });
const middleware = cjs.express({ events: ev });
report.esmEventsCjsExpress = await roundTrip(ev, (req, res) => middleware(req, res, () => {}));
try {
  cjs.createHandler({ events: { [Symbol.for('express-eventstream.events')]: 999 } });
} catch (err) {
  report.incompatible = { code: err.code, message: err.message };
}
try {
  esm.createHandler({ events: {} });
} catch (err) {
  report.notEvents = err.code;
}
console.log(JSON.stringify(report));
`;

describe('ESM and CommonJS copies in one process', () => {
  it("accept each other's Events objects in createHandler() and express()", async () => {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      cwd: root,
      timeout: 25_000,
    });
    const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(report).toMatchObject({
      distinctClasses: true,
      esmEventsCjsHandler: true,
      cjsEventsEsmHandler: true,
      esmEventsCjsExpress: true,
      notEvents: 'ERR_SSE_INVALID_OPTION',
    });
    expect(report.incompatible).toMatchObject({ code: 'ERR_SSE_INVALID_OPTION' });
    expect((report.incompatible as { message: string }).message).toMatch(/incompatible version/);
  }, 30_000);
});
