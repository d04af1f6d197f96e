// Figures for the hardening bounds (not a test, nothing is asserted): run after `npm run build`
//   node --expose-gc bench/limits.mjs [flood|resume|kernel]...
// flood:  20 sockets × 2,000 pipelined GETs, then the client closes: subscriptions left.
// resume: 20 channels × 1,000 events × 1 KB, resumed from the start by clients that never read:
//         server memory per resumer.
// kernel: clients that never read, dropped as slow: bytes the kernel still queues for each.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { createHandler, events } from '../dist/index.js';

const MiB = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function serve(options) {
  const ev = events({ keepAlive: false, ...options });
  let requests = 0;
  const handler = createHandler({ events: ev });
  const server = http.createServer((req, res) => {
    requests++;
    handler(req, res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  let connects = 0;
  let disconnects = 0;
  ev.on('connect', () => connects++);
  ev.on('disconnect', () => disconnects++);
  return {
    ev,
    port: server.address().port,
    counts: () => ({ requests, connects, disconnects }),
    async close() {
      await ev.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function raw(port, text) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(text);
  return socket;
}

const get = (path, lastEventId) =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${
    lastEventId ? `Last-Event-ID: ${lastEventId}\r\n` : ''
  }\r\n`;

/** Wait until `read()` gives the same value twice, `gapMs` apart. */
async function settle(read, gapMs = 500) {
  let last = read();
  for (;;) {
    await sleep(gapMs);
    const now = read();
    if (JSON.stringify(now) === JSON.stringify(last)) return now;
    last = now;
  }
}

function live() {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Server-side sockets of `port` (not the listener): count and bytes queued to send. */
function kernelQueued(port) {
  let sockets = 0;
  let queued = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    if (Number.parseInt(f[1].split(':')[1], 16) !== port || f[3] === '0A') continue;
    sockets++;
    queued += Number.parseInt(f[4].split(':')[0], 16);
  }
  return { sockets, queued };
}

async function flood() {
  const s = await serve({});
  const before = live();
  const sockets = [];
  let text = '';
  for (let i = 0; i < 2000; i++) text += get(`/?channel=f${i % 50}`);
  for (let i = 0; i < 20; i++) sockets.push(raw(s.port, text));
  const during = await settle(() => ({ ...s.counts(), connections: s.ev.stats().connections }));
  for (const socket of sockets) socket.destroy();
  const after = await settle(() => ({ ...s.counts(), connections: s.ev.stats().connections }));
  console.log(
    `flood: 20 sockets × 2,000 pipelined GETs: ${during.requests} requests handled, ` +
      `${during.connections} subscribed while open; after the client closed: ` +
      `${after.connections} subscriptions left, ${after.connects} connect / ${after.disconnects} disconnect, ` +
      `heap +${((live() - before) / MiB).toFixed(1)} MiB`,
  );
  await s.close();
}

async function resume() {
  const s = await serve({ history: { maxEventsPerChannel: 1000 } });
  const channels = Array.from({ length: 20 }, (_, i) => `c${i}`);
  const query = channels.map((c) => `channel=${c}`).join('&');
  const first = raw(s.port, get(`/?${query}`));
  let head = '';
  await new Promise((resolve) => {
    first.on('data', (d) => {
      head += d;
      if (/id: (\S+)/.test(head)) resolve();
    });
  });
  const from = /id: (\S+)/.exec(head)[1];
  first.destroy();
  const data = 'x'.repeat(1000);
  for (let n = 0; n < 1000; n++) await Promise.all(channels.map((c) => s.ev.publish(c, { data, raw: true })));
  const resumers = 5;
  const before = live();
  const rssBefore = process.memoryUsage().rss;
  const sockets = [];
  for (let i = 0; i < resumers; i++) sockets.push(raw(s.port, get(`/?${query}`, from)));
  await settle(() => s.ev.stats().bytesDelivered);
  const per = (live() - before) / resumers;
  const rss = (process.memoryUsage().rss - rssBefore) / resumers;
  console.log(
    `resume: 20 ch × 1,000 × 1 KB replay, ${resumers} resumers that never read: ` +
      `${(per / MiB).toFixed(2)} MiB heap+buffers each (RSS +${(rss / MiB).toFixed(1)} MiB each); ` +
      `still connected: ${s.ev.stats().connections}`,
  );
  for (const socket of sockets) socket.destroy();
  await s.close();
}

async function kernel() {
  const s = await serve({ history: false });
  const clients = 20;
  const sockets = [];
  for (let i = 0; i < clients; i++) sockets.push(raw(s.port, get('/?channel=k')));
  while (s.ev.stats().connections < clients) await sleep(10);
  const payload = 'x'.repeat(16 * 1024);
  while (s.ev.stats().slowClientsDropped < clients) await s.ev.publish('k', { data: payload, raw: true });
  const after = await settle(() => kernelQueued(s.port), 300);
  console.log(
    `kernel: ${clients} non-reading clients dropped as slow: ${after.sockets} server-side sockets left, ` +
      `${(after.queued / clients / MiB).toFixed(2)} MiB still queued per dropped client`,
  );
  for (const socket of sockets) socket.destroy();
  await s.close();
}

const which = process.argv.slice(2);
for (const [name, run] of Object.entries({ flood, resume, kernel })) {
  if (which.length === 0 || which.includes(name)) await run();
}
