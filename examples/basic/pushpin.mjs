// `npm run demo:pushpin`: the basic demo scaled out behind a private Pushpin.
//
//   browser ──> Pushpin :7999 ──> origin 1 (serves pages, /events/ and /messages/; no clock)
//                          └────> origin 2 (failover target; runs the clock)
//
// The clock ticks are published by origin 2, yet a browser served by origin 1 receives them:
// every origin publishes to Pushpin, and Pushpin holds every client. Posting a message through
// either origin reaches everyone. Stop origin 1 (its PID is printed) and new requests fail over
// to origin 2 while open streams carry on.
//
//   PUSHPIN_PORT          Pushpin's HTTP port (default 7999; 0 picks a free one)
//   PUSHPIN_PUBLISH_PORT  Pushpin's publish API port (default 5561; 0 picks a free one)
//
// Needs the `pushpin` Debian package (installed with apt-get when running as root).
import { fileURLToPath, pathToFileURL } from 'node:url';
import { portFromEnv, startOrigin, stopChild } from './children.mjs';

// Child mode: one origin without the clock, so the demo has exactly one clock.
if (process.argv[2] === '--origin-without-clock') {
  const { createDemoServer } = await import('./app.mjs');
  const log = (line) => console.log(`${new Date().toISOString()} ${line}`);
  const demo = await createDemoServer({
    port: 0,
    grip: process.env.GRIP_URL,
    redisUrl: process.env.REDIS_URL || undefined,
    clock: false,
    log,
  });
  console.log(`express-eventstream basic demo listening on ${demo.url}`);
  const stop = () => demo.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}

/**
 * Runs the demo. `env` is added to both origins' environment (e.g. REDIS_URL), `notes` lines are
 * printed after the URLs, and `onStop` runs after the origins and Pushpin have stopped.
 */
export async function main({ env = {}, notes = [], onStop, script = 'demo:pushpin' } = {}) {
  const { dependenciesFor, ensureSystemDependencies } = await import('../../scripts/system-deps.mjs');
  const { freePorts, startPushpin } = await import('../../scripts/pushpin.mjs');
  try {
    ensureSystemDependencies(dependenciesFor('pushpin'));
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }

  let httpPort = portFromEnv('PUSHPIN_PORT', 7999);
  let publishPort = portFromEnv('PUSHPIN_PUBLISH_PORT', 5561);
  if (httpPort === 0 || publishPort === 0) {
    const [a, b] = await freePorts(2);
    if (httpPort === 0) httpPort = a;
    if (publishPort === 0) publishPort = b;
  }
  // Pushpin's default sig_key is "changeme": the same key verifies its Grip-Sig in the origins.
  const gripUrl = `http://127.0.0.1:${publishPort}?key=changeme`;
  const serverScript = fileURLToPath(new URL('./server.mjs', import.meta.url));
  const selfScript = fileURLToPath(import.meta.url);

  const origins = [];
  let pushpin;
  let stopping = false;
  async function shutdown(code) {
    if (stopping) return;
    stopping = true;
    await Promise.all(origins.map((o) => stopChild(o.child)));
    await pushpin?.stop();
    await onStop?.();
    process.exit(code);
  }
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));

  try {
    origins.push(
      await startOrigin('origin-1', [selfScript, '--origin-without-clock'], { ...env, GRIP_URL: gripUrl }),
    );
    origins.push(await startOrigin('origin-2', [serverScript], { ...env, GRIP_URL: gripUrl, PORT: '0' }));
    pushpin = await startPushpin({
      originPorts: origins.map((o) => o.port),
      httpPort,
      publishPort,
      readyPath: '/events/?channel=clock',
    });
  } catch (err) {
    console.error(`could not start the demo: ${err.message}`);
    console.error(`(busy port? try PUSHPIN_PORT=0 PUSHPIN_PUBLISH_PORT=0 npm run ${script})`);
    await shutdown(1);
    return;
  }
  for (const o of origins) {
    o.child.once('exit', (code, signal) => {
      if (!stopping)
        console.log(`[${o.label}] exited (${signal ?? code}); Pushpin fails over to the other origin`);
    });
  }
  console.log('');
  console.log(`Pushpin (pid ${pushpin.pid}) on http://127.0.0.1:${httpPort}/ — open this URL.`);
  console.log(`  publish API  http://127.0.0.1:${publishPort}/publish/   (GRIP_URL=${gripUrl})`);
  console.log(
    `  origin-1     http://127.0.0.1:${origins[0].port}/  pid ${origins[0].child.pid}  (first route target)`,
  );
  console.log(
    `  origin-2     http://127.0.0.1:${origins[1].port}/  pid ${origins[1].child.pid}  (runs the clock)`,
  );
  console.log(`  Pushpin logs ${pushpin.dir}`);
  for (const line of notes) console.log(line);
  console.log('Ctrl-C stops everything.');
}
