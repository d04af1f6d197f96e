// Revocation at scale: 1,000 streams of one user spread over the servers of a namespace are all
// closed after one revoke(); other users' streams are untouched; reconnects are refused. Reports
// revoke() → each close (p50, p99, last). With the in-memory engine (one process) always; with
// the Redis engine (three namespaces on one real Redis, each with its own connections, as three
// processes) once `redis()` provides control and state.
import { SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { createHandler, type Events, type EventsOptions, events, tokens } from '../../src/index.js';
import { redis } from '../../src/integrations/redis/index.js';
import { startRedis } from '../helpers/redis.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type SseClient } from '../helpers/sse-client.js';

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!';
const authorize = tokens({ keys: [{ secret: SECRET }] });
const STREAMS = 1000;
const OTHERS = 30;

const token = (sub: string) =>
  new SignJWT({ sub, channels: ['room:*'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function run(label: string, options: () => EventsOptions, processes: number): Promise<void> {
  const nodes: Array<{ ev: Events; server: TestServer }> = [];
  for (let i = 0; i < processes; i++) {
    const ev = events({ keepAlive: false, ...options() });
    const server = await startServer(createHandler({ events: ev, authorize }));
    nodes.push({ ev, server });
    cleanups.push(
      () => server.close(),
      () => ev.close(),
    );
  }
  const [victim, other] = [await token('victim'), await token('other')];
  const open = async (i: number, jwt: string): Promise<SseClient> => {
    const node = nodes[i % nodes.length]!;
    const es = await connect(node.server.url(`/?channel=room:${i % 10}`), {
      accept: 'text/event-stream',
      authorization: `Bearer ${jwt}`,
    });
    cleanups.push(() => es.close());
    return es;
  };
  const victims: SseClient[] = [];
  for (let i = 0; i < STREAMS; i += 100)
    victims.push(...(await Promise.all(Array.from({ length: 100 }, (_, k) => open(i + k, victim)))));
  const others = await Promise.all(Array.from({ length: OTHERS }, (_, i) => open(i, other)));
  await Promise.all(
    [...victims, ...others].map((es) => es.waitFor((c) => c.named('stream-open').length === 1, 30_000)),
  );

  const start = performance.now();
  const closes = victims.map((es) =>
    es.waitFor((c) => c.ended, 30_000, 'the revoked stream to end').then(() => performance.now() - start),
  );
  await nodes[0]!.ev.revoke({ sub: 'victim' });
  const resolvedMs = (performance.now() - start).toFixed(1);
  const times = (await Promise.all(closes)).sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!.toFixed(1);
  console.log(
    `revocation (${label}, ${processes} process${processes > 1 ? 'es' : ''}): ${STREAMS} streams closed; ` +
      `revoke() resolved in ${resolvedMs} ms; revoke() → close seen by the client p50 ${at(0.5)} ms, ` +
      `p99 ${at(0.99)} ms, last ${times.at(-1)!.toFixed(1)} ms (clients in the servers' process)`,
  );
  for (const es of victims) expect(JSON.parse(es.named('stream-error')[0]!.data).condition).toBe('revoked');
  // Other users untouched: still open and receiving.
  await nodes[0]!.ev.publish('room:0', { event: 'msg', data: 1 });
  await Promise.all(
    others.filter((_, i) => i % 10 === 0).map((es) => es.waitFor((c) => c.named('msg').length === 1, 10_000)),
  );
  expect(others.every((es) => !es.ended)).toBe(true);
  // Reconnects are refused on every process.
  for (let i = 0; i < nodes.length; i++) {
    const again = await open(i, victim);
    await again.waitFor((c) => c.ended);
    expect(JSON.parse(again.named('stream-error')[0]!.data).condition).toBe('revoked');
  }
}

describe('revocation of 1,000 streams', () => {
  it('in-memory engine, one process', async () => {
    await run('memory', () => ({}), 1);
  }, 120_000);

  const engine = redis('redis://127.0.0.1:1') as object;
  const hasControl = 'control' in engine && 'state' in engine;
  it.skipIf(!hasControl)(
    'Redis engine, three processes',
    async () => {
      const server = await startRedis();
      cleanups.push(() => server.stop());
      await run('redis', () => ({ ...redis(server.url) }), 3);
    },
    180_000,
  );
});
