// Identity (issue 23): what subscriber tokens cost and how fast access ends.
//   1. Revocation: 3 server processes on one private Redis (the Redis engine), 1,000 streams of
//      one subject spread over them plus 30 of another, held by clients in this process (a separate
//      load generator); `revoke({ sub })` is called in server 0, and each victim's close is timed
//      from the moment this process asked for it: p50 / p99 / last, as each server closed it (its
//      'disconnect', on the shared wall clock) and as each client saw its stream end (which adds
//      this process's own lag reading 1,000 sockets). Others must stay open.
//   2. Expiry lateness: 300 streams whose tokens expire in the same second, spread over the three
//      processes: when each client saw its stream end, minus `exp`.
//   3. Token verification cost per connect: `tokens().verify()` in this process, sequentially,
//      HS256 (shared secret) and ES256 (public key), µs per token.
//
//   npm run build && node bench/identity.mjs [--streams 1000] [--report BENCHMARKS.md]
import { spawn } from 'node:child_process';
import http from 'node:http';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Histogram } from './lib/hist.mjs';
import { writeSection } from './lib/sections.mjs';

const SELF = fileURLToPath(import.meta.url);
const SECRET = 'a-bench-secret-of-at-least-thirty-two-bytes';
const PROCESSES = 3;
const { values: o } = parseArgs({
  options: {
    role: { type: 'string' },
    url: { type: 'string' },
    streams: { type: 'string', default: '1000' },
    expiring: { type: 'string', default: '300' },
    report: { type: 'string' },
  },
});

const { SignJWT, generateKeyPair, exportSPKI } = await import('jose');
const sign = (claims, expSec) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(expSec ?? '10m')
    .sign(new TextEncoder().encode(SECRET));

/** One server process: the Redis engine, tokens, and POST /revoke?sub= (answered once revoke() resolves). */
async function serve() {
  const { events, createHandler, tokens } = await import('../dist/index.js');
  const { redis } = await import('../dist/redis.js');
  const ev = events({ ...redis({ url: o.url, namespace: 'identity-bench' }), keepAlive: false });
  ev.on('error', (e) => process.stderr.write(`server error: ${e.message}\n`));
  const handler = createHandler({ events: ev, authorize: tokens({ keys: [{ secret: SECRET }] }) });
  // When this process closed each revoked stream (ms since the epoch, sub-ms), for GET /closes.
  const closes = [];
  ev.on('disconnect', (info) => {
    if (info.reason === 'revoked') closes.push(performance.timeOrigin + performance.now());
  });
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/closes') return res.end(JSON.stringify(closes.splice(0)));
    if (req.method !== 'POST') return handler(req, res);
    const sub = new URL(req.url, 'http://x').searchParams.get('sub');
    ev.revoke({ sub }).then(
      () => res.end('ok'),
      (e) => res.writeHead(500).end(String(e)),
    );
  });
  server.maxConnections = 20_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  process.stdout.write(`ready ${server.address().port}\n`);
  createInterface({ input: process.stdin }).on('close', () => ev.close().then(() => process.exit(0)));
}

/** A stream as the load generator sees it: opened, ended (with what), when. */
function open(port, channel, jwt) {
  return new Promise((resolve, reject) => {
    const stream = { text: '', opened: false, endedAt: 0 };
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path: `/?channel=${channel}`,
        agent: false,
        headers: { accept: 'text/event-stream', authorization: `Bearer ${jwt}` },
      },
      (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          stream.text += chunk;
          if (!stream.opened && stream.text.includes('event: stream-open')) {
            stream.opened = true;
            resolve(stream);
          }
        });
        res.on('end', () => {
          stream.endedAt = performance.now();
          stream.onEnd?.();
          if (!stream.opened) reject(new Error(`refused: ${stream.text.slice(0, 200)}`));
        });
      },
    );
    req.on('error', reject);
    stream.close = () => req.destroy();
  });
}

const ended = (s) => (s.endedAt ? Promise.resolve() : new Promise((r) => (s.onEnd = r)));
const inBatches = async (n, make) => {
  const out = [];
  for (let i = 0; i < n; i += 100)
    out.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, k) => make(i + k)))));
  return out;
};

async function main() {
  const { startRedis } = await import('../scripts/redis.mjs');
  const redis = await startRedis();
  const servers = [];
  try {
    for (let i = 0; i < PROCESSES; i++) {
      const child = spawn(process.execPath, [SELF, '--role', 'server', '--url', redis.url], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const port = await new Promise((resolve) =>
        createInterface({ input: child.stdout }).on(
          'line',
          (l) => l.startsWith('ready ') && resolve(+l.slice(6)),
        ),
      );
      servers.push({ child, port });
    }
    const results = {
      revocation: await revocation(servers),
      expiry: await expiry(servers),
      verify: await verification(),
    };
    const text = render(results);
    process.stdout.write(`${text}\n`);
    if (o.report) writeSection(o.report, 'identity', text);
  } finally {
    for (const { child } of servers) child.stdin.end();
    await Promise.all(servers.map(({ child }) => new Promise((r) => child.once('exit', r))));
    await redis.stop();
  }
}

async function revocation(servers) {
  const n = Number(o.streams);
  const [victim, other] = [
    await sign({ sub: 'victim', channels: ['room:*'] }),
    await sign({ sub: 'other', channels: ['room:*'] }),
  ];
  const victims = await inBatches(n, (i) => open(servers[i % PROCESSES].port, `room:${i % 10}`, victim));
  const others = await inBatches(30, (i) => open(servers[i % PROCESSES].port, `room:${i % 10}`, other));
  const load = loadavg()[0];
  const start = performance.now();
  const startEpoch = performance.timeOrigin + start;
  let resolvedMs = 0;
  const call = new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: servers[0].port, method: 'POST', path: '/?sub=victim', agent: false },
      (res) => {
        res.resume();
        res.on('end', () => {
          resolvedMs = performance.now() - start;
          resolve();
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
  await Promise.all([call, ...victims.map(ended)]);
  const hist = new Histogram();
  for (const s of victims) hist.add(s.endedAt - start);
  const server = new Histogram();
  for (const { port } of servers)
    for (const at of await getJson(port, '/closes')) server.add(at - startEpoch);
  const revoked = victims.filter((s) => s.text.includes('"condition":"revoked"')).length;
  const othersOpen = others.filter((s) => !s.endedAt).length;
  for (const s of others) s.close();
  let refused = 0;
  for (const { port } of servers)
    await open(port, 'room:1', victim).then(
      (s) => s.close(),
      () => refused++,
    );
  return {
    n,
    load,
    resolvedMs,
    closedByServers: server.n,
    serverP50: server.percentile(50),
    serverP99: server.percentile(99),
    serverLast: server.max,
    p50: hist.percentile(50),
    p99: hist.percentile(99),
    last: hist.max,
    revoked,
    othersOpen,
    refused,
  };
}

function getJson(port, path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(JSON.parse(text)));
      })
      .on('error', reject);
  });
}

async function expiry(servers) {
  const n = Number(o.expiring);
  const load = loadavg()[0];
  // Far enough ahead for every stream to be open before it (on a loaded machine).
  const expSec = Math.ceil(Date.now() / 1000) + 8;
  const jwt = await sign({ sub: 'short', channels: ['room:*'] }, expSec);
  const streams = await inBatches(n, (i) => open(servers[i % PROCESSES].port, `room:${i % 10}`, jwt));
  await Promise.all(streams.map(ended));
  const hist = new Histogram();
  const expAt = expSec * 1000 - (Date.now() - performance.now()); // exp on the performance clock
  for (const s of streams) hist.add(Math.max(0, s.endedAt - expAt));
  const expired = streams.filter((s) => s.text.includes('"condition":"token-expired"')).length;
  return { n, load, p50: hist.percentile(50), p99: hist.percentile(99), last: hist.max, expired };
}

async function verification() {
  const { tokens } = await import('../dist/index.js');
  const out = { load: loadavg()[0] };
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const cases = {
    HS256: [tokens({ keys: [{ secret: SECRET }] }), await sign({ sub: 'u', channels: ['user:{sub}:*'] })],
    ES256: [
      tokens({ keys: [{ publicKey: await exportSPKI(publicKey), alg: 'ES256' }] }),
      await new SignJWT({ sub: 'u', channels: ['user:{sub}:*'] })
        .setProtectedHeader({ alg: 'ES256' })
        .setExpirationTime('10m')
        .sign(privateKey),
    ],
  };
  for (const [alg, [authorizer, jwt]] of Object.entries(cases)) {
    for (let i = 0; i < 500; i++) await authorizer.verify(jwt); // warm-up
    const rounds = 5000;
    const t0 = performance.now();
    for (let i = 0; i < rounds; i++)
      if (!(await authorizer.verify(jwt)).ok) throw new Error(`${alg} refused`);
    out[alg] = ((performance.now() - t0) * 1000) / rounds;
  }
  return out;
}

function render({ revocation: r, expiry: e, verify: v }) {
  const ms = (x) => x.toFixed(1);
  return [
    '## Identity (issue 23)',
    '',
    `Generated by \`node bench/identity.mjs\` on ${new Date().toISOString().slice(0, 10)}: ${PROCESSES} server processes on one private Redis (the Redis engine), the clients in the bench process. The last column is the machine's 1-minute load average when the row was measured.`,
    '',
    '| measure | p50 | p99 | last / max | checks | load (1 min) |',
    '|---|---|---|---|---|---|',
    `| revoke({ sub }) in one process → each of ${r.n.toLocaleString('en-US')} streams (spread over ${PROCESSES}) closed by its server (target p99 ≤ 1 s) | ${ms(r.serverP50)} ms | ${ms(r.serverP99)} ms | ${ms(r.serverLast)} ms | ${r.closedByServers}/${r.n} closes reported by the servers | ${r.load.toFixed(1)} |`,
    `| the same, seen closed by its client (adds the load generator's lag) | ${ms(r.p50)} ms | ${ms(r.p99)} ms | ${ms(r.last)} ms | revoke() resolved after ${ms(r.resolvedMs)} ms; ${r.revoked}/${r.n} got \`stream-error\` \`revoked\`; ${r.othersOpen}/30 other streams still open; ${r.refused}/${PROCESSES} reconnects refused | ${r.load.toFixed(1)} |`,
    `| token expiry → each of ${e.n} streams seen closed, after \`exp\` | ${ms(e.p50)} ms | ${ms(e.p99)} ms | ${ms(e.last)} ms | ${e.expired}/${e.n} got \`stream-error\` \`token-expired\` | ${e.load.toFixed(1)} |`,
    `| \`tokens().verify()\` per connect, HS256 | ${v.HS256.toFixed(0)} µs | | | sequential, 5,000 tokens | ${v.load.toFixed(1)} |`,
    `| \`tokens().verify()\` per connect, ES256 | ${v.ES256.toFixed(0)} µs | | | sequential, 5,000 tokens | ${v.load.toFixed(1)} |`,
    '',
  ].join('\n');
}

if (o.role === 'server') await serve();
else await main();
