// `npm run demo:postgres`: the basic demo as two processes on one PostgreSQL database, no Redis.
//
//   browser ──> web :3000 (serves the page, /events/ and /messages/; no clock)
//                 ▲
//                 │  PostgreSQL: the events table is the shared history; LISTEN/NOTIFY wakes
//                 │  the other process, which reads what is new from the table
//               clock (runs the clock; serves the same demo on its own port)
//
// The web process has no clock, yet its page shows a tick every second: the clock process appends
// each tick to the table, and the web process' bus delivers it with the same id. A message posted
// to either process reaches the pages of both; Disconnect/Connect replays what was published
// meanwhile, on either process.
//
//   PORT          the web process' port (default 3000; 0 picks a free one)
//   DATABASE_URL  use this database (the tables are created on first use, prefix `ees_`) instead
//                 of starting a private cluster (initdb in a temp dir, deleted on exit)
//
// Without DATABASE_URL it needs the `postgresql` Debian package (installed with apt-get when
// running as root); always the `pg` package.
import { fileURLToPath } from 'node:url';
import { dependenciesFor, ensureSystemDependencies } from '../../scripts/system-deps.mjs';
import { portFromEnv, startOrigin, stopChild } from './children.mjs';

if (process.argv.length > 2) {
  console.error(`unknown argument ${process.argv[2]}; set DATABASE_URL to use your own database`);
  process.exit(1);
}

let databaseUrl = process.env.DATABASE_URL || undefined;
let cluster;
if (databaseUrl === undefined) {
  try {
    ensureSystemDependencies(dependenciesFor('/usr/lib/postgresql/*/bin/initdb'));
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
  const { startPostgres } = await import('../../scripts/postgres.mjs');
  cluster = await startPostgres();
  databaseUrl = cluster.url;
}
const databaseNote = `${databaseUrl}${cluster ? `  pid ${cluster.pid}  (private cluster, deleted on exit)` : ''}`;

const port = portFromEnv('PORT', 3000);
const server = fileURLToPath(new URL('./server.mjs', import.meta.url));
const env = { DATABASE_URL: databaseUrl };
const children = [];
let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  await Promise.all(children.map((c) => stopChild(c.child)));
  await cluster?.stop();
  process.exit(code);
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
try {
  children.push(await startOrigin('web', [server], { ...env, PORT: String(port), CLOCK: 'off' }));
  children.push(await startOrigin('clock', [server], { ...env, PORT: '0' }));
} catch (err) {
  console.error(`could not start the demo: ${err.message}`);
  console.error('(busy port? try PORT=0 npm run demo:postgres)');
  await shutdown(1);
}
for (const c of children) {
  c.child.once('exit', (code, signal) => {
    if (!stopping) console.log(`[${c.label}] exited (${signal ?? code})`);
  });
}
const [web, clock] = children;
console.log('');
console.log(`The basic demo as two processes on one PostgreSQL database: open http://127.0.0.1:${web.port}/`);
console.log(`  web       http://127.0.0.1:${web.port}/  pid ${web.child.pid}  (serves the page; no clock)`);
console.log(
  `  clock     http://127.0.0.1:${clock.port}/  pid ${clock.child.pid}  (runs the clock; serves the demo too)`,
);
console.log(`  postgres  ${databaseNote}  (shared history and bus)`);
console.log('The ticks on the page come from the clock process, through the database. Post a message');
console.log('on either process and it reaches the pages of both; a page resumes on either.');
console.log('Ctrl-C stops everything.');
