// The browser client's cost per event in headless Chromium, with and without persisting the last
// id (sessionStorage), for one or more builds of the client (issue 19: writes batched).
//   node bench/client-persist.mjs [--events 20000] [--rounds 3] [--synthetic] [name=path/to/client.js ...]
// Default build: dist/client/index.js. The server publishes all events at once; the page times
// its handler from the first event to the last (performance.now()) and reports µs per event:
// network and parsing included, so it moves with the machine's load. --synthetic measures the
// client alone: an in-page EventSource stand-in hands it the events in one loop.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values, positionals } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    synthetic: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const N = Number(values.events);
const ROUNDS = Number(values.rounds);
const builds = (
  positionals.length > 0
    ? positionals
    : [`after=${fileURLToPath(new URL('../dist/client/index.js', import.meta.url))}`]
).map((arg) => {
  const [name, file] = arg.split('=');
  return { name, code: readFileSync(file, 'utf8') };
});
const lib = await import('express-eventstream');

const SYNTHETIC = `
const params = new URLSearchParams(location.search);
const { connect } = await import('/client.js?build=' + params.get('build'));
const n = Number(params.get('n'));
let es;
class StandIn {
  readyState = 1;
  listeners = new Map();
  constructor() { es = this; }
  addEventListener(type, fn) { this.listeners.set(type, fn); }
  close() {}
}
let count = 0;
connect('/events/', {
  channels: ['bench'],
  EventSource: StandIn,
  persist: params.get('persist') === '1' ? true : false,
  on: { n: () => { count++; } },
});
es.listeners.get('stream-open')({ data: '', lastEventId: 'open' });
const handle = es.listeners.get('n');
const start = performance.now();
for (let i = 0; i < n; i++) handle({ data: String(i), lastEventId: 'id-' + i });
const us = ((performance.now() - start) * 1000) / n;
window.__result = count === n ? us : -1;
`;

const PAGE = values.synthetic
  ? SYNTHETIC
  : `
const params = new URLSearchParams(location.search);
const { connect } = await import('/client.js?build=' + params.get('build'));
const n = Number(params.get('n'));
let count = 0;
let first = 0;
window.__result = new Promise((resolve) => {
  connect('/events/', {
    channels: ['bench'],
    persist: params.get('persist') === '1' ? true : false,
    onOpen: () => fetch('/go', { method: 'POST' }),
    on: {
      n: () => {
        if (count++ === 0) first = performance.now();
        if (count === n) resolve(((performance.now() - first) * 1000) / (n - 1));
      },
    },
  });
});
`;

const ev = lib.events({ keepAlive: false, history: false });
const handler = lib.createHandler({ events: ev });
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/client.js') {
    const build = builds.find((b) => b.name === url.searchParams.get('build'));
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(build.code);
  } else if (url.pathname === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(PAGE);
  else if (url.pathname === '/') {
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><script type="module" src="/page.js"></script>');
  } else if (url.pathname === '/go') {
    res.writeHead(204).end();
    for (let i = 0; i < N; i++) void ev.publish('bench', { event: 'n', id: `id-${i}`, data: i });
  } else if (url.pathname === '/events/') handler(req, res);
  else res.writeHead(404).end();
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
const results = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const build of builds) {
    for (const persist of ['0', '1']) {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/?build=${build.name}&persist=${persist}&n=${N}`);
      await page.waitForFunction('window.__result !== undefined');
      const us = await page.evaluate('window.__result');
      await page.close();
      const key = `${build.name} persist=${persist === '1'}`;
      results[key] = [...(results[key] ?? []), us];
    }
  }
}
await browser.close();
await ev.close();
server.close();
for (const [key, list] of Object.entries(results)) {
  const sorted = [...list].sort((a, b) => a - b);
  console.log(
    `${key.padEnd(28)} median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)} µs/event  (${list.map((v) => v.toFixed(2)).join(', ')})`,
  );
}
