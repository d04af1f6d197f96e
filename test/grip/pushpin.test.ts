// End-to-end GRIP tests through a REAL Pushpin (Debian package; installed on demand, never
// skipped). Every Pushpin runs privately on free 127.0.0.1 ports and is stopped by PID.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GripPublishError } from '../../src/grip/index.js';
import { createHandler, type Events, type EventsOptions, events } from '../../src/index.js';
import { ensurePushpin, freePorts, type PushpinInstance, startPushpin } from '../helpers/pushpin.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, request, type SseClient } from '../helpers/sse-client.js';

const READY = '/events?channel=pushpin-ready';
const ORIGIN_SCRIPT = fileURLToPath(new URL('./fixtures/origin.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

const cleanups: Array<() => Promise<void> | void> = [];
const pushpins: PushpinInstance[] = [];
afterEach(async (ctx) => {
  // A failure through the proxy is only explainable with its logs, which stop() deletes.
  if (ctx.task.result?.state === 'fail') {
    for (const pp of pushpins)
      console.error(`Pushpin http ${pp.httpPort} publish ${pp.publishPort}:\n${pp.tailLogs()}`);
  }
  pushpins.length = 0;
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

beforeAll(async () => {
  await ensurePushpin();
});

function track<T extends { close(): void }>(client: T): T {
  cleanups.push(() => client.close());
  return client;
}

async function pushpin(options: Parameters<typeof startPushpin>[0]): Promise<PushpinInstance> {
  const pp = await startPushpin({ readyPath: READY, ...options });
  pushpins.push(pp);
  cleanups.push(() => pp.stop());
  return pp;
}

/** An in-process app: events() + createHandler() on /events, from the TypeScript sources. */
async function app(options: EventsOptions): Promise<{ events: Events; server: TestServer }> {
  const ev = events(options);
  const handler = createHandler({ events: ev });
  const server = await startServer((req, res) => {
    if (req.url?.startsWith('/events')) handler(req, res);
    else {
      res.writeHead(404);
      res.end();
    }
  });
  cleanups.push(async () => {
    await ev.close();
    await server.close();
  });
  return { events: ev, server };
}

interface Origin {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
  publish(channel: string, event: object): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

/** The fixture origin as a separate Node process using the built package (dist/). */
async function origin(name: string, env: Record<string, string>): Promise<Origin> {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first (npm test does)`);
  const child = spawn(process.execPath, [ORIGIN_SCRIPT], {
    env: { ...process.env, NAME: name, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`origin ${name} did not start:\n${output}`)), 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening (\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`origin ${name} exited with ${code}:\n${output}`));
    });
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  cleanups.push(stop);
  return {
    name,
    port,
    child,
    stop,
    publish: (channel, event) =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify(event);
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: `/publish?channel=${encodeURIComponent(channel)}`,
            agent: false,
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => {
              text += c;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('error', reject);
        req.end(body);
      }),
  };
}

function sse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return connect(url, { accept: 'text/event-stream', ...headers }).then(track);
}

/** The data of each `event` event, decoded: tests publish a distinct tag as data. */
const tags = (c: SseClient, event = 'message'): unknown[] =>
  c.named(event).map((e) => JSON.parse(e.data) as unknown);

function hs256(claims: Record<string, unknown>, key: string): string {
  const h = Buffer.from('{"typ":"JWT","alg":"HS256"}').toString('base64url');
  const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${h}.${p}.${createHmac('sha256', key).update(`${h}.${p}`).digest('base64url')}`;
}

describe('through a real Pushpin', () => {
  it('delivers events on one channel, ends the origin response at once, and keeps alive', async () => {
    const [httpPort, publishPort] = await freePorts(2);
    const a = await app({ grip: `http://127.0.0.1:${publishPort}?key=changeme`, keepAlive: 1000 });
    const pp = await pushpin({ originPort: a.server.port, httpPort, publishPort });

    const client = await sse(`${pp.baseUrl}/events?channel=clock`);
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(Object.keys(client.headers).filter((h) => h.startsWith('grip-'))).toEqual([]);
    await client.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');
    await pp.waitForSubscription('events-clock');
    // The proxy holds the client; the origin has no open stream.
    expect(a.events.stats().connections).toBe(0);

    for (let n = 1; n <= 3; n++) await a.events.publish('clock', { event: 'time', data: { n } });
    await client.waitFor((c) => c.named('time').length === 3, 15_000, 'three time events');
    expect(client.named('time').map((e) => e.data)).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
    // Ids come from the event history and travel in the published SSE text.
    expect(client.named('time').every((e) => /^\S+-\d+$/.test(e.id ?? ''))).toBe(true);

    // keepAlive: 1000 → Grip-Keep-Alive timeout=1: Pushpin sends the same keep-alive event.
    await client.waitFor((c) => c.named('keep-alive').length >= 2, 6000, 'two keep-alives from Pushpin');
    expect(a.events.stats().connections).toBe(0);
  });

  it('several channels in one request, with a custom prefix', async () => {
    const [httpPort, publishPort] = await freePorts(2);
    const a = await app({ grip: `http://127.0.0.1:${publishPort}?key=changeme`, prefix: 'myapp.' });
    const pp = await pushpin({ originPort: a.server.port, httpPort, publishPort });

    const client = await sse(`${pp.baseUrl}/events?channel=a&channel=b`);
    await pp.waitForSubscription('myapp.a');
    await pp.waitForSubscription('myapp.b');
    expect(pp.readLog('pushpin-handler.log')).not.toMatch(/channel=events-/);

    // One tick → one batch → one publish request with three items.
    await Promise.all([
      a.events.publish('a', { data: 'a1' }),
      a.events.publish('c', { data: 'c1' }),
      a.events.publish('b', { data: 'b1' }),
    ]);
    await a.events.publish('b', { data: 'b2' });
    await client.waitFor((c) => tags(c).includes('b2'), 15_000, 'b2');
    expect(tags(client)).toEqual(['a1', 'b1', 'b2']);
    // The handler logs each publish request with its item count: the tick's three events went in one.
    await pp.waitForLog(/POST \/publish\/ code=200 .*items=3\b/);
  });

  it('two origin processes (ESM and CJS builds) behind one Pushpin: every client gets every event', async () => {
    const [httpPort, publishPort] = await freePorts(2);
    const grip = JSON.stringify(`http://127.0.0.1:${publishPort}?key=changeme`);
    const oa = await origin('a', { GRIP: grip });
    const ob = await origin('b', { GRIP: grip, FORMAT: 'cjs' });
    // Virtual hosts pin clients to one origin each; the catch-all line has two targets
    // (Pushpin tries them in order: failover).
    const pp = await pushpin({
      routes: [
        `a.test 127.0.0.1:${oa.port}`,
        `b.test 127.0.0.1:${ob.port}`,
        `* 127.0.0.1:${oa.port} 127.0.0.1:${ob.port}`,
        '',
      ].join('\n'),
      httpPort,
      publishPort,
    });

    const clients = [
      await sse(`${pp.baseUrl}/events?channel=news`, { host: 'a.test' }),
      await sse(`${pp.baseUrl}/events?channel=news`, { host: 'b.test' }),
      await sse(`${pp.baseUrl}/events?channel=news`, { host: 'a.test' }),
      await sse(`${pp.baseUrl}/events?channel=news`, { host: 'b.test' }),
      await sse(`${pp.baseUrl}/events?channel=news`),
    ];
    expect(clients.map((c) => c.headers['x-origin'])).toEqual(['a', 'b', 'a', 'b', 'a']);
    await pp.waitForSubscription('events-news', clients.length);

    expect(await oa.publish('news', { data: 'a1' })).toMatchObject({ status: 200 });
    expect(await ob.publish('news', { data: 'b1' })).toMatchObject({ status: 200 });
    for (const c of clients) {
      await c.waitFor((x) => tags(x).length === 2, 15_000, 'both events');
      expect(tags(c)).toEqual(['a1', 'b1']);
    }

    // Origin a goes away: its clients stay connected (the proxy holds them), new clients fail
    // over to b, and b's events reach everyone.
    await oa.stop();
    const late = await sse(`${pp.baseUrl}/events?channel=news`);
    expect(late.headers['x-origin']).toBe('b');
    await pp.waitForSubscription('events-news', clients.length + 1);
    expect(await ob.publish('news', { data: 'b2' })).toMatchObject({ status: 200 });
    for (const c of [...clients, late]) await c.waitFor((x) => tags(x).includes('b2'), 15_000, 'b2');
    expect(tags(late)).toEqual(['b2']);
  }, 90_000);

  it('two Pushpin instances and an array config: clients on each get every event', async () => {
    const [h1, p1, h2, p2] = await freePorts(4);
    const a = await app({
      grip: [
        `http://127.0.0.1:${p1}?key=changeme`,
        { controlUri: `http://127.0.0.1:${p2}/`, key: 'second-secret' },
      ],
    });
    const pp1 = await pushpin({ originPort: a.server.port, httpPort: h1, publishPort: p1 });
    const pp2 = await pushpin({
      originPort: a.server.port,
      httpPort: h2,
      publishPort: p2,
      sigKey: 'second-secret',
    });

    const c1 = await sse(`${pp1.baseUrl}/events?channel=multi`);
    const c2 = await sse(`${pp2.baseUrl}/events?channel=multi`);
    await pp1.waitForSubscription('events-multi');
    await pp2.waitForSubscription('events-multi');
    for (let n = 1; n <= 3; n++) await a.events.publish('multi', { data: `m${n}` });
    for (const c of [c1, c2]) {
      await c.waitFor((x) => tags(x).length === 3, 15_000, 'three events');
      expect(tags(c)).toEqual(['m1', 'm2', 'm3']);
    }
  });

  it('a forged, expired or wrongly signed Grip-Sig sent straight to the origin gets 403', async () => {
    const [httpPort, publishPort] = await freePorts(2);
    const a = await app({ grip: `http://127.0.0.1:${publishPort}?key=changeme` });
    const now = Math.floor(Date.now() / 1000);
    const url = a.server.url('/events?channel=x');
    const cases: Array<[string, string]> = [
      ['forged', 'signature does not verify'],
      [hs256({ iss: 'pushpin', exp: now + 3600 }, 'guessed-key'), 'signature does not verify'],
      [hs256({ iss: 'pushpin', exp: now - 1 }, 'changeme'), 'expired'],
      [hs256({ iss: 'pushpin' }, 'changeme'), 'exp'],
    ];
    for (const [sig, reason] of cases) {
      const res = await request(url, { headers: { accept: 'text/event-stream', 'grip-sig': sig } });
      expect(res.status, sig).toBe(403);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.body).toContain(sig === 'forged' ? 'malformed' : reason);
      expect(res.headers).not.toHaveProperty('grip-hold');
    }
    // A valid signature straight to the origin is a hold; no signature is a direct stream.
    const held = await request(url, {
      headers: {
        accept: 'text/event-stream',
        'grip-sig': hs256({ iss: 'pushpin', exp: now + 60 }, 'changeme'),
      },
    });
    expect(held.status).toBe(200);
    expect(held.headers['grip-hold']).toBe('stream');
    expect(held.headers['content-length']).toBe(String(Buffer.byteLength(held.body)));

    // A Pushpin signing with another key than the app expects: its clients get the 403 too.
    const pp = await pushpin({
      originPort: a.server.port,
      httpPort,
      publishPort,
      sigKey: 'not-the-app-key',
      readyPath: '/nothing-here',
    });
    const viaProxy = await request(`${pp.baseUrl}/events?channel=x`, {
      headers: { accept: 'text/event-stream' },
    });
    expect(viaProxy.status).toBe(403);
    expect(viaProxy.body).toContain('signature does not verify');
  });

  it('Pushpin down: publish() rejects with GripPublishError, direct clients keep working; back up: publishing works again', async () => {
    const [httpPort, publishPort] = await freePorts(2);
    const a = await app({
      grip: `http://127.0.0.1:${publishPort}?key=changeme`,
      gripRetry: { retries: 2, minDelayMs: 20, maxDelayMs: 50, timeoutMs: 2000 },
    });
    const pp = await pushpin({ originPort: a.server.port, httpPort, publishPort });
    const direct = await sse(a.server.url('/events?channel=news'));
    const proxied = await sse(`${pp.baseUrl}/events?channel=news`);
    await pp.waitForSubscription('events-news');
    await a.events.publish('news', { data: '1' });
    await proxied.waitFor((c) => tags(c).includes('1'), 15_000, 'event 1 via Pushpin');

    await pp.pause();
    await proxied.waitFor((c) => c.ended, 15_000, 'proxied stream to end with Pushpin');
    const err = await a.events.publish('news', { data: '2' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GripPublishError);
    const publishError = err as GripPublishError;
    expect(publishError.code).toBe('ERR_GRIP_PUBLISH');
    expect(publishError.attempts).toBe(3);
    expect(publishError.status).toBeUndefined();
    expect(publishError.url).toBe(`http://127.0.0.1:${publishPort}/publish/`);
    // Local delivery is unaffected, and the app keeps serving direct clients.
    await direct.waitFor((c) => tags(c).includes('2'), 15_000, 'event 2 directly');
    const direct2 = await sse(a.server.url('/events?channel=news'));
    await direct2.waitFor((c) => c.named('stream-open').length === 1, 15_000, 'stream-open');

    await pp.start();
    const proxied2 = await sse(`${pp.baseUrl}/events?channel=news`);
    await pp.waitForSubscription('events-news');
    await a.events.publish('news', { data: '3' });
    await proxied2.waitFor((c) => tags(c).includes('3'), 15_000, 'event 3 via the restarted Pushpin');
    await direct.waitFor((c) => tags(c).includes('3'), 15_000, 'event 3 directly');
    await direct2.waitFor((c) => tags(c).includes('3'), 15_000, 'event 3 on the new direct client');
    expect(tags(direct)).toEqual(['1', '2', '3']);
    expect(tags(proxied2)).toEqual(['3']);
  });

  it('direct and proxied clients on one process each get every event exactly once', async () => {
    const [httpPort, publishPort] = await freePorts(2);
    const a = await app({ grip: `http://127.0.0.1:${publishPort}?key=changeme` });
    const pp = await pushpin({ originPort: a.server.port, httpPort, publishPort });
    const direct = await sse(a.server.url('/events?channel=once'));
    const proxied = await sse(`${pp.baseUrl}/events?channel=once`);
    await pp.waitForSubscription('events-once');

    const expected = ['e1', 'e2', 'e3', 'e4', 'e5'];
    for (const id of expected.slice(0, 2)) await a.events.publish('once', { data: id });
    await Promise.all(expected.slice(2).map((id) => a.events.publish('once', { data: id })));
    // A sentinel published afterwards: once it has arrived, any duplicate would have too.
    await a.events.publish('once', { event: 'done', data: 'end' });
    for (const c of [direct, proxied]) {
      await c.waitFor((x) => x.named('done').length === 1, 15_000, 'sentinel');
      expect(tags(c)).toEqual(expected);
      expect(c.named('stream-open')).toHaveLength(1);
    }
    // Both paths carry the same history ids.
    expect(proxied.named('message').map((e) => e.id)).toEqual(direct.named('message').map((e) => e.id));
    expect(a.events.stats().connections).toBe(1); // only the direct client is held by the app
  });
});
