// Redis engine figures (`npm run build && node bench/redis.mjs`): appends per second through one
// redis-server by batch size, the bus' publish→delivery latency, and a 1,000-event resume.
// Starts its own redis-server (no AOF) on a free loopback port.
import { performance } from 'node:perf_hooks';
import { redisBus, redisStore } from '../dist/redis.js';
import { startRedis } from '../scripts/redis.mjs';

const server = await startRedis();
const body = `event: tick\ndata: ${JSON.stringify({ value: 'x'.repeat(64) })}\n\n`;
const pct = (xs, p) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

try {
  console.log('appends through one redis-server (one script call per batch, 10 channels):');
  for (const [batch, inFlight] of [
    [1, 1],
    [1, 16],
    [100, 1],
    [1000, 1],
    [1000, 4],
  ]) {
    const store = redisStore({
      url: server.url,
      namespace: `tp${batch}x${inFlight}`,
      maxEventsPerChannel: 1000,
    });
    const items = Array.from({ length: batch }, (_, i) => ({ channel: `c${i % 10}`, body }));
    const total = Math.max(20_000, batch * 40);
    await store.append(items); // loads the script
    server.cli('CONFIG', 'RESETSTAT');
    const start = performance.now();
    let sent = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (sent < total) {
          sent += batch;
          await store.append(items);
        }
      }),
    );
    const ms = performance.now() - start;
    // Redis' own time in the script: the ceiling of one shard, whatever the clients cost.
    const usec = Number(/cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(server.cli('INFO', 'commandstats'))?.[1]);
    console.log(
      `  batch ${batch}, ${inFlight} in flight: ${Math.round((sent / ms) * 1000)} events/s end to end; ` +
        `Redis time ${(usec / sent).toFixed(1)} µs/event (≈ ${Math.round(sent / (usec / 1e6))} events/s per shard)`,
    );
    await store.close();
  }

  // Publish → delivery through Redis pub/sub (the bus in this process; another store appends).
  const pubStore = redisStore({ url: server.url, namespace: 'lat' });
  const subStore = redisStore({ url: server.url, namespace: 'lat' });
  const sent = [];
  const lat = [];
  const bus = redisBus({ store: subStore });
  await bus.start({
    deliver: (b) => {
      const now = performance.now();
      // One channel, appends in call order on one connection: the k-th delivery is the k-th append.
      for (let i = 0; i < b.length; i++) lat.push(now - sent[lat.length]);
    },
  });
  await bus.subscribe('c0');
  for (const rate of [1000]) {
    const n = 2000;
    for (let i = 0; i < n; i++) {
      sent.push(performance.now());
      pubStore.append([{ channel: 'c0', body }]);
      // Paced: one event per 1/rate s.
      await new Promise((res) => setTimeout(res, 1000 / rate));
    }
    await new Promise((res) => setTimeout(res, 200));
    console.log(
      `bus publish→delivery at ~${rate}/s (append start → sink.deliver, ${lat.length} events): p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms`,
    );
  }
  await bus.close();

  // A resume of 1,000 events on 10 channels: one readAfter call (one round trip).
  const resume = redisStore({ url: server.url, namespace: 'resume' });
  await resume.append(Array.from({ length: 1000 }, (_, i) => ({ channel: `c${i % 10}`, body })));
  const channels = Array.from({ length: 10 }, (_, i) => `c${i}`);
  const times = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    const r = await resume.readAfter(channels, 0);
    times.push(performance.now() - t);
    if (r.records.length !== 1000) throw new Error('short read');
  }
  console.log(`resume of 1,000 events on 10 channels: 1 round trip, p50 ${pct(times, 50).toFixed(2)} ms`);
  const info = server.cli('INFO', 'commandstats');
  console.log(
    info
      .split('\n')
      .filter((l) => /evalsha|spublish|cmdstat_eval:/.test(l))
      .join('\n'),
  );
  await Promise.all([pubStore.close(), subStore.close(), resume.close()]);
} finally {
  await server.stop();
}
