// `npm start`: runs the basic demo.
//   PORT      HTTP port (default 3000; 0 picks a free one)
//   HOST      address to listen on (default 127.0.0.1)
//   GRIP_URL  optional, e.g. http://127.0.0.1:5561 when running behind Pushpin
//   REDIS_URL optional, e.g. redis://127.0.0.1:6379: the history lives in Redis, shared by every
//             demo process on it (needs the optional peer dependency ioredis)
//   REDIS_BUS 1: with REDIS_URL, the Redis bus too, so pages connected to this process get the
//             events every demo process on that Redis publishes
//   DATABASE_URL optional, e.g. postgres://user@127.0.0.1/app: history and bus in PostgreSQL,
//             shared by every demo process on that database (needs the optional peer dependency pg)
//   CLOCK     off: no clock in this process (run one clock per group of processes)
import { createDemoServer } from './app.mjs';

const port = process.env.PORT === undefined || process.env.PORT === '' ? 3000 : Number(process.env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be an integer from 0 to 65535, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(1);
}
const host = process.env.HOST || '127.0.0.1';
const grip = process.env.GRIP_URL || undefined;
const redisUrl = process.env.REDIS_URL || undefined;
const redisBus = process.env.REDIS_BUS === '1';
const databaseUrl = process.env.DATABASE_URL || undefined;
const clock = process.env.CLOCK !== 'off';
if (redisBus && redisUrl === undefined) {
  console.error('REDIS_BUS=1 needs REDIS_URL');
  process.exit(1);
}

const log = (line) => console.log(`${new Date().toISOString()} ${line}`);

let demo;
try {
  demo = await createDemoServer({ port, host, grip, redisUrl, redisBus, databaseUrl, clock, log });
} catch (err) {
  console.error(`could not start the demo: ${err.message}`);
  process.exit(1);
}

// Tests read this line to learn the port.
console.log(`express-eventstream basic demo listening on ${demo.url}`);
if (grip) console.log('GRIP_URL is set: open the page through the GRIP proxy (e.g. Pushpin on port 7999).');
else console.log('Set PORT to choose the port, GRIP_URL to publish through Pushpin / Fastly Fanout.');

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: closing`);
  const force = setTimeout(() => {
    console.error('did not close within 5 s; exiting');
    process.exit(1);
  }, 5000);
  force.unref();
  try {
    await demo.close();
    process.exit(0);
  } catch (err) {
    console.error(`error while closing: ${err.message}`);
    process.exit(1);
  }
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
