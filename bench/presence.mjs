// Presence query cost (issue 25): `events.presence(channel)` p50/p99 with 10,000 members on the
// default in-process state (MemoryState). Members are written to the state as their processes
// would write them (one entry per stream), then the query runs sequentially.
//
//   npm run build && node bench/presence.mjs [--members 10000] [--queries 500]
import { parseArgs } from 'node:util';
import { events, MemoryState } from '../dist/index.js';
import { Histogram } from './lib/hist.mjs';

const { values: o } = parseArgs({
  options: { members: { type: 'string', default: '10000' }, queries: { type: 'string', default: '500' } },
});
const members = Number(o.members);
const state = new MemoryState();
const ev = events({ presence: true, state, keepAlive: false });
for (let i = 0; i < members; i++)
  await state.put(
    'presence:room',
    `p-${i}`,
    JSON.stringify({ m: `user-${i}`, i: { name: `User ${i}` } }),
    60_000,
  );
const hist = new Histogram();
for (let q = 0; q < 50; q++) await ev.presence('room'); // warm-up
for (let q = 0; q < Number(o.queries); q++) {
  const started = process.hrtime.bigint();
  const snapshot = await ev.presence('room');
  hist.add(Number(process.hrtime.bigint() - started) / 1e6);
  if (snapshot.count !== members) throw new Error(`expected ${members} members, got ${snapshot.count}`);
}
console.log(JSON.stringify({ members, p50Ms: hist.percentile(50), p99Ms: hist.percentile(99) }));
await ev.close();
