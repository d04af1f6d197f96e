// Publish cost with Prometheus metrics on vs off, in ONE process (so load from other processes
// hits both alike): N raw clients, rounds alternating off/on, CPU time per published event
// (process.cpuUsage). `npm run build`, then `node bench/metrics-cost.mjs`. Medians and the ratio.
import http from 'node:http';
import net from 'node:net';
import { createHandler, events } from 'express-eventstream';
import { metrics } from 'express-eventstream/metrics';
import { Registry } from 'prom-client';

const N = 200,
  BURSTS = 100,
  PER_BURST = 10,
  ROUNDS = 5;
const ev = events({ keepAlive: false, history: false });
const server = http.createServer(createHandler({ events: ev }));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;
const sockets = [];
for (let i = 0; i < N; i++) {
  const s = net.connect(port, '127.0.0.1');
  s.on('data', () => {});
  s.write('GET /?channel=c HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
  sockets.push(s);
}
const deadline = Date.now() + 30_000;
while (ev.stats().connections < N) {
  if (Date.now() > deadline) throw new Error('clients did not connect');
  await new Promise((r) => setTimeout(r, 10));
}
const res = { on: [], off: [] };
let m;
for (let round = 0; round < ROUNDS * 2; round++) {
  const on = round % 2 === 1;
  if (on) m = metrics({ registry: new Registry(), events: ev });
  else if (m) {
    m.close();
    m = undefined;
  }
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  for (let b = 0; b < BURSTS; b++) {
    const burst = [];
    for (let i = 0; i < PER_BURST; i++)
      burst.push(ev.publish('c', { event: 'tick', data: { b, i, pad: 'x'.repeat(64) } }));
    await Promise.all(burst);
  }
  const c = process.cpuUsage(t0);
  res[on ? 'on' : 'off'].push({
    cpuUsPerEvent: (c.user + c.system) / (BURSTS * PER_BURST),
    wallMs: performance.now() - w0,
  });
}
const med = (a) => a.map((x) => x.cpuUsPerEvent).sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(JSON.stringify({ off: med(res.off), on: med(res.on), ratio: med(res.on) / med(res.off) }));
for (const s of sockets) s.destroy();
await ev.close();
server.close();
