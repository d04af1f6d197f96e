// The engine's control channel on a real Redis: messages between Events objects (and processes) in
// each sender's order, foreign text dropped, an unreachable Redis refused with a typed error naming
// it, and a resync after the subscriber connection was cut or Redis restarted empty.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type Events, events, type JsonValue } from '../../src/index.js';
import { type RedisControl, RedisUnavailableError, redis } from '../../src/integrations/redis/index.js';
import { deadPort } from '../helpers/net.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { until } from '../helpers/sse-client.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let n = 0;
const ns = () => `c${process.pid}x${++n}`;

// How features reach the running engine (not public API).
interface Running {
  control: {
    send(topic: string, payload: JsonValue): Promise<void>;
    on(topic: string, handler: (payload: unknown) => void): () => void;
    onResync(listener: () => void): () => void;
  };
  state: {
    put(s: string, k: string, v: string, ttl: number): Promise<void>;
    get(s: string, k: string): Promise<string | undefined>;
  };
}
const engineOf = (ev: Events) =>
  (ev as unknown as Record<symbol, { engine: Running }>)[Symbol.for('express-eventstream.core')]!.engine;

async function redisServer(): Promise<RedisInstance> {
  const server = await startRedis();
  cleanups.push(() => server.stop());
  return server;
}

/** An Events object on `url`, closed after the test; its errors collected. */
function namespace(url: string, name: string): { ev: Events; errors: Error[]; engine: Running } {
  const engine = redis({ url, namespace: name });
  const ev = events({ ...engine, keepAlive: false });
  controls.set(ev, engine.control);
  const errors: Error[] = [];
  ev.on('error', (e: Error) => errors.push(e));
  cleanups.push(() => ev.close());
  return { ev, errors, engine: engineOf(ev) };
}

/** Processes subscribed to the namespace's control channel, as Redis counts them. */
const subscribers = (server: RedisInstance, name: string) =>
  Number(server.cli('PUBSUB', 'SHARDNUMSUB', `ees:{${name}}:c`).split('\n')[1]);

describe('Redis control channel', () => {
  it('two Events objects receive every message of both, each sender in its order, their own included', async () => {
    const server = await redisServer();
    const name = ns();
    const a = namespace(server.url, name);
    const b = namespace(server.url, name);
    await until(() => subscribers(server, name) === 2, 10_000, 'both subscribed');
    const got = { a: [] as unknown[], b: [] as unknown[] };
    a.engine.control.on('t', (p) => got.a.push(p));
    b.engine.control.on('t', (p) => got.b.push(p));
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      sends.push(a.engine.control.send('t', { from: 'a', i }));
      sends.push(b.engine.control.send('t', { from: 'b', i }));
    }
    await Promise.all(sends);
    await until(() => got.a.length === 400 && got.b.length === 400, 10_000, 'all messages');
    for (const list of [got.a, got.b]) {
      for (const from of ['a', 'b']) {
        const mine = list
          .filter((m) => (m as { from: string }).from === from)
          .map((m) => (m as { i: number }).i);
        expect(mine).toEqual(Array.from({ length: 200 }, (_, i) => i));
      }
    }
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('text on the channel that is not a control message is dropped, never delivered', async () => {
    const server = await redisServer();
    const name = ns();
    const a = namespace(server.url, name);
    await until(() => subscribers(server, name) === 1, 10_000, 'subscribed');
    const got: unknown[] = [];
    a.engine.control.on('t', (p) => got.push(p));
    const channel = `ees:{${name}}:c`;
    for (const foreign of ['not json', '{"t":"Bad Topic","p":1}', '{"t":"t"}', '[1,2]', 'null', '{"p":1}']) {
      server.cli('SPUBLISH', channel, foreign);
    }
    server.cli('SPUBLISH', channel, '{"t":"t","p":"ours"}');
    await until(() => got.length === 1, 10_000, 'the valid message');
    expect(got).toEqual(['ours']);
    expect(redisControlOf(a.ev).stats.dropped).toBe(6);
    expect(a.errors).toEqual([]);
  });

  it('send() rejects with RedisUnavailableError naming the endpoint (no password) within 2 s when Redis is unreachable', async () => {
    const port = await deadPort();
    const a = namespace(`redis://:s3cret@127.0.0.1:${port}`, ns());
    const started = performance.now();
    const failure = await a.engine.control.send('t', 1).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(failure).toBeInstanceOf(RedisUnavailableError);
    expect((failure as RedisUnavailableError).endpoint).toBe(`redis://127.0.0.1:${port}`);
    expect((failure as Error).message).toMatch(
      /^Redis control send failed at redis:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/,
    );
    // Bad input is refused before anything is sent, as the in-process channel does.
    expect(() => a.engine.control.send('Bad', 1)).toThrow(/control topic/);
    // The subscriber connection's failure reaches 'error' once, however many attempts fail.
    await until(() => a.errors.length > 0, 10_000, 'the subscriber failure');
    const control = a.errors.filter((e) =>
      e.message.startsWith('Redis control subscriber connection failed at'),
    );
    expect(control).toHaveLength(1);
    expect(a.errors.map((e) => e.message).join('\n')).not.toContain('s3cret');
  });

  it('a process whose connections are cut misses what is sent meanwhile, then resyncs once and re-reads the state', async () => {
    const server = await redisServer();
    const proxy = await startTcpProxy({ port: server.port });
    cleanups.push(() => proxy.close());
    const name = ns();
    // a reaches Redis through the proxy, under a connection name so its connections can be cut.
    const a = namespace(`redis://${proxy.address}/?connectionName=cut-a`, name);
    const b = namespace(server.url, name);
    await until(() => subscribers(server, name) === 2, 10_000, 'both subscribed');
    const got: unknown[] = [];
    const resyncs: unknown[] = [];
    a.engine.control.on('revoke', (p) => got.push(p));
    a.engine.control.onResync(() => {
      resyncs.push('resync');
      a.engine.state.get('revoked', 'u2').then((v) => resyncs.push(v));
    });
    await b.engine.control.send('revoke', 'u1');
    await until(() => got.length === 1, 10_000, 'the first message');
    // Cut every connection of a, and keep it out for a while (several failed reconnects).
    proxy.refuse(true);
    for (const line of server
      .cli('CLIENT', 'LIST')
      .split('\n')
      .filter((l) => l.includes(' name=cut-a '))) {
      server.cli('CLIENT', 'KILL', 'ID', /\bid=(\d+)/.exec(line)![1]!);
    }
    await until(() => subscribers(server, name) === 1, 10_000, 'a unsubscribed');
    await until(() => proxy.stats.refused >= 3, 10_000, 'reconnects refused');
    // What b sends now is lost for a; the fact is kept in the shared state too.
    await b.engine.state.put('revoked', 'u2', 'yes', 60_000);
    await b.engine.control.send('revoke', 'u2');
    proxy.refuse(false);
    await until(() => resyncs.length === 2, 15_000, 'the resync and its re-read');
    expect(resyncs).toEqual(['resync', 'yes']);
    expect(got).toEqual(['u1']);
    // Subscribed again: messages flow, and there was exactly one resync for the outage.
    await b.engine.control.send('revoke', 'u3');
    await until(() => got.length === 2, 10_000, 'the message after the outage');
    expect(got).toEqual(['u1', 'u3']);
    expect(redisControlOf(a.ev).stats.resyncs).toBe(1);
  });

  it('Redis restarted empty: the channel resyncs once, and messages flow again', async () => {
    const server = await redisServer();
    const name = ns();
    const a = namespace(server.url, name);
    await until(() => subscribers(server, name) === 1, 10_000, 'subscribed');
    const resyncs: number[] = [];
    a.engine.control.onResync(() => resyncs.push(Date.now()));
    await server.kill();
    await until(
      () => a.errors.some((e) => e.message.startsWith('Redis control subscriber')),
      10_000,
      'the failure',
    );
    await server.start();
    await until(() => resyncs.length === 1, 15_000, 'one resync');
    await until(() => subscribers(server, name) === 1, 10_000, 'subscribed again');
    const got: unknown[] = [];
    a.engine.control.on('t', (p) => got.push(p));
    await a.engine.control.send('t', 'after');
    await until(() => got.length === 1, 10_000, 'a message after the restart');
    expect(resyncs).toHaveLength(1);
    expect(a.errors.filter((e) => e.message.startsWith('Redis control subscriber'))).toHaveLength(1);
  });
});

/** The RedisControl an Events object was given (the router keeps it privately; redis() made it). */
function redisControlOf(ev: Events): RedisControl {
  const control = controls.get(ev);
  if (control === undefined) throw new Error('not an Events of this test');
  return control;
}
const controls = new WeakMap<Events, RedisControl>();

describe('Redis control channel between two processes', () => {
  it('a child process and this one exchange messages; its sends arrive here in its order', async () => {
    const server = await redisServer();
    const name = ns();
    const a = namespace(server.url, name);
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('./fixtures/control-peer.mjs', import.meta.url))],
      {
        env: { ...process.env, REDIS_URL: server.url, NS: name, COUNT: '500' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await until(() => output.includes('ready'), 20_000, 'the peer process subscribed');
    await until(() => subscribers(server, name) === 2, 10_000, 'both subscribed');
    const seq: number[] = [];
    const pongs: unknown[] = [];
    a.engine.control.on('seq', (p) => seq.push((p as { i: number }).i));
    a.engine.control.on('pong', (p) => pongs.push(p));
    await a.engine.control.send('ping', { n: 1 });
    await a.engine.control.send('go', null);
    await until(() => seq.length === 500 && pongs.length === 1, 15_000, 'the peer’s messages');
    expect(seq).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(pongs).toEqual([{ n: 1 }]);
    expect(output).not.toContain('error:');
  });
});
