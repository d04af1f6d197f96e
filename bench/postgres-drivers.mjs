// Which driver for express-eventstream/postgres: `pg` (node-postgres) against `postgres`
// (porsager) on this engine's own statements, on a private cluster. Prints events/s for
// batched appends (100 events per statement), single-event appends at concurrency 8, and reads
// of 1,000 events. Run: node bench/postgres-drivers.mjs
import pg from 'pg';
import postgresJs from 'postgres';
import { migrationSql } from '../dist/postgres.js';
import { startPostgres } from '../scripts/postgres.mjs';

const server = await startPostgres();
const body = 'event: n\ndata: {"n":1,"text":"hello"}\n\n';
const results = [];

async function measure(seconds, fn) {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) n += await fn();
  return Math.round(n / seconds);
}

try {
  const setup = new pg.Client(server.url);
  await setup.connect();
  await setup.query(migrationSql());
  await setup.end();
  const drivers = {
    pg: () => {
      const pool = new pg.Pool({ connectionString: server.url, max: 8 });
      return {
        query: (text, values) => pool.query(text, values).then((r) => r.rows),
        end: () => pool.end(),
      };
    },
    postgres: () => {
      const sql = postgresJs(server.url, { max: 8, onnotice: () => {} });
      return { query: (text, values) => sql.unsafe(text, values), end: () => sql.end() };
    },
  };
  for (const [name, make] of Object.entries(drivers)) {
    const db = make();
    const ns = `bench-${name}`;
    // No token, no keys: the append function's plain path.
    const append = 'SELECT r_seq FROM ees_append($1, $2::text[], $3::text[], $4, NULL, NULL, 0)';
    const batch = Array.from({ length: 100 }, () => 'c');
    const bodies = Array.from({ length: 100 }, () => body);
    const batched = await measure(3, async () => {
      await db.query(append, [ns, batch, bodies, 'e1']);
      return 100;
    });
    const single = await measure(3, async () => {
      await Promise.all(Array.from({ length: 8 }, () => db.query(append, [ns, ['c'], [body], 'e1'])));
      return 8;
    });
    const read = `SELECT seq, body FROM ees_events WHERE ns = $1 AND channel = ANY($2::text[]) AND seq > $3 ORDER BY seq LIMIT 1000`;
    const reads = await measure(3, async () => {
      await db.query(read, [ns, ['c'], 0]);
      return 1000;
    });
    results.push({
      driver: name,
      batchedEventsPerSec: batched,
      singleAppendsPerSec: single,
      readEventsPerSec: reads,
    });
    await db.end();
  }
  console.table(results);
} finally {
  await server.stop();
}
