// `npm run demo:redis`: the Pushpin demo (`npm run demo:pushpin`) with its history in Redis.
//
//   browser ──> Pushpin :7999 ──> origin 1 (serves pages, /events/ and /messages/; no clock)
//                          └────> origin 2 (failover target; runs the clock)
//                 both origins ──> one private redis-server (the shared history)
//
// Both origins keep their history in the same Redis, so one Last-Event-ID means the same thing on
// either: Disconnect/Connect on the page resumes through origin 1 and replays the clock ticks that
// origin 2 published meanwhile (with one in-memory history per process, origin 1 has never seen
// them and answers `stream-reset`). Stop origin 1 (its PID is printed): new requests fail over to
// origin 2, and a page that reconnects there resumes where it was.
//
//   PUSHPIN_PORT          Pushpin's HTTP port (default 7999; 0 picks a free one)
//   PUSHPIN_PUBLISH_PORT  Pushpin's publish API port (default 5561; 0 picks a free one)
//   REDIS_URL             use this Redis instead of starting a private redis-server
//
// Needs the `pushpin` and `redis-server` Debian packages (installed with apt-get when running as
// root) and the `ioredis` package.
import { dependenciesFor, ensureSystemDependencies } from '../../scripts/system-deps.mjs';
import { main as pushpinDemo } from './pushpin.mjs';

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

await pushpinDemo({
  env: { REDIS_URL: redisUrl },
  script: 'demo:redis',
  notes: [
    `  redis        ${redisUrl}${redis ? `  pid ${redis.pid}  (private, no persistence)` : ''}  (shared history)`,
    'Disconnect, wait, Connect: origin 1 replays what origin 2 published meanwhile.',
  ],
  onStop: () => redis?.stop(),
});
