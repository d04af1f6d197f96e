// `npm run demo:redis`: the basic demo as two processes on one Redis, without a proxy.
//
//   browser ──> web :3000 (serves the page, /events/ and /messages/; no clock)
//                 ▲
//                 │  Redis: the shared history, and the bus (sharded pub/sub) carrying every event
//                 │
//               clock (runs the clock; serves the same demo on its own port)
//
// The page is served by the web process, which has no clock, yet it shows a tick every second:
// the clock process publishes each tick into Redis, and the web process' Redis bus delivers it
// to its clients, with the same id. A message posted to either process reaches every page on
// both. Both share one history, so Disconnect/Connect replays what was published meanwhile, and a
// page can resume on the other process with the same Last-Event-ID.
//
// `npm run demo:redis -- --pushpin` (or `npm run demo:redis:pushpin`): the Pushpin demo
// (`npm run demo:pushpin`) with both origins keeping their history in Redis, so a page that
// reconnects through the other origin resumes there.
//
//   PORT                  the web process' port (default 3000; 0 picks a free one)
//   PUSHPIN_PORT          with --pushpin: Pushpin's HTTP port (default 7999; 0 picks a free one)
//   PUSHPIN_PUBLISH_PORT  with --pushpin: Pushpin's publish API port (default 5561; 0: free)
//   REDIS_URL             use this Redis instead of starting a private redis-server
//
// Needs the `redis-server` Debian package (and `pushpin` for --pushpin; both installed with
// apt-get when running as root) and the `ioredis` package.
import { fileURLToPath } from 'node:url';
import { dependenciesFor, ensureSystemDependencies } from '../../scripts/system-deps.mjs';
import { portFromEnv, startOrigin, stopChild } from './children.mjs';

const withPushpin = process.argv.includes('--pushpin');
const unknown = process.argv.slice(2).filter((a) => a !== '--pushpin');
if (unknown.length > 0) {
  console.error(`unknown argument ${unknown[0]}; the only option is --pushpin`);
  process.exit(1);
}

let redisUrl = process.env.REDIS_URL || undefined;
let redis;
if (redisUrl === undefined) {
  try {
    ensureSystemDependencies(dependenciesFor('redis-server', 'redis-cli'));
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
  const { startRedis } = await import('../../scripts/redis.mjs');
  // No persistence: stopping the demo ends its history, as with the in-memory store.
  redis = await startRedis();
  redisUrl = redis.url;
}
const redisNote = `${redisUrl}${redis ? `  pid ${redis.pid}  (private, no persistence)` : ''}`;

if (withPushpin) {
  const { main: pushpinDemo } = await import('./pushpin.mjs');
  await pushpinDemo({
    env: { REDIS_URL: redisUrl },
    script: 'demo:redis:pushpin',
    notes: [
      `  redis        ${redisNote}  (shared history)`,
      'Disconnect, wait, Connect: origin 1 replays what origin 2 published meanwhile.',
    ],
    onStop: () => redis?.stop(),
  });
} else {
  await twoProcesses();
}

async function twoProcesses() {
  const port = portFromEnv('PORT', 3000);
  const server = fileURLToPath(new URL('./server.mjs', import.meta.url));
  const env = { REDIS_URL: redisUrl, REDIS_BUS: '1' };
  const children = [];
  let stopping = false;
  async function shutdown(code) {
    if (stopping) return;
    stopping = true;
    await Promise.all(children.map((c) => stopChild(c.child)));
    await redis?.stop();
    process.exit(code);
  }
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));
  try {
    children.push(await startOrigin('web', [server], { ...env, PORT: String(port), CLOCK: 'off' }));
    children.push(await startOrigin('clock', [server], { ...env, PORT: '0' }));
  } catch (err) {
    console.error(`could not start the demo: ${err.message}`);
    console.error('(busy port? try PORT=0 npm run demo:redis)');
    await shutdown(1);
    return;
  }
  for (const c of children) {
    c.child.once('exit', (code, signal) => {
      if (!stopping) console.log(`[${c.label}] exited (${signal ?? code})`);
    });
  }
  const [web, clock] = children;
  console.log('');
  console.log(`The basic demo as two processes on one Redis: open http://127.0.0.1:${web.port}/`);
  console.log(`  web    http://127.0.0.1:${web.port}/  pid ${web.child.pid}  (serves the page; no clock)`);
  console.log(
    `  clock  http://127.0.0.1:${clock.port}/  pid ${clock.child.pid}  (runs the clock; serves the demo too)`,
  );
  console.log(`  redis  ${redisNote}  (shared history and bus)`);
  console.log('The ticks on the page come from the clock process, through Redis. Post a message on');
  console.log('either process and it reaches the pages of both; a page resumes on either.');
  console.log('Ctrl-C stops everything.');
}
