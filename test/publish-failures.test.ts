// Failures nobody observes and user code that throws (issue 9, defects 1, 4 and 9): a
// fire-and-forget publish never crashes the process, a throwing listener never stalls the
// pipeline, and a publish whose events were stored resolves.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/history/memory-store.js';
import {
  events as createEvents,
  EventStoreError,
  type EventsOptions,
  GripPublishError,
  ListenerError,
} from '../src/index.js';
import { openedClient, serveWithCleanup, type TestServer } from './helpers/server.js';
import { until } from './helpers/sse-client.js';

const run = promisify(execFile);
const distEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const serve = (options: EventsOptions) => serveWithCleanup(cleanups, options);
const client = (server: TestServer, channel: string) => openedClient(cleanups, server, channel);

/** A loopback port with nothing listening on it: a GRIP proxy that is down. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('an unobserved publish failure (defect 1)', () => {
  it("never crashes the process: the README's setInterval example with the proxy down, publish and channel writes after close()", async () => {
    // The README's node:http example, with GRIP_URL pointing at a proxy that is down and no
    // 'error' listener. Unhandled rejections end a Node process by default (exit code 1).
    const script = `
import http from 'node:http';
import { createHandler, events } from ${JSON.stringify(distEntry)};
const ev = events({ grip: process.env.GRIP_URL });
const server = http.createServer(createHandler({ events: ev })).listen(0, '127.0.0.1');
const timer = setInterval(() => ev.publish('clock', { event: 'time', data: { value: new Date().toISOString() } }), 20);
const watch = setInterval(async () => {
  // The first publish has failed after its retries; dozens more wait behind it for the proxy.
  if (ev.stats().publishErrors < 1) return;
  clearInterval(watch);
  clearInterval(timer);
  // Fire-and-forget through a Channel too; close() then fails everything still queued.
  ev.channel('clock').write({ event: 'time', data: 1 });
  await ev.close();
  ev.publish('clock', { event: 'late' });
  ev.channel('clock').write({ event: 'late' });
  server.close();
  // Unhandled rejections are detected once the microtask queue drains; give it a few turns.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  const { eventsPublished, publishErrors } = ev.stats();
  console.log(JSON.stringify({ survived: true, eventsPublished, publishErrors }));
}, 5);
`;
    const port = await deadPort();
    const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, GRIP_URL: `http://127.0.0.1:${port}` },
      timeout: 25_000,
    }).catch((err: { code?: number; stderr?: string }) => {
      throw new Error(`the process crashed (exit ${err.code}): ${err.stderr}`);
    });
    expect(stderr).not.toMatch(/Unhandled|GripPublishError|EventsClosedError/);
    const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
      survived: boolean;
      eventsPublished: number;
      publishErrors: number;
    };
    expect(report.survived).toBe(true);
    // Every accepted publish failed (proxy down or closed), plus the two after close().
    expect(report.eventsPublished).toBeGreaterThan(1);
    expect(report.publishErrors).toBe(report.eventsPublished + 2);
  }, 30_000);

  it("still reaches 'error' listeners, stats().publishErrors and whoever awaits the promise", async () => {
    const port = await deadPort();
    const ev = createEvents({
      keepAlive: false,
      grip: `http://127.0.0.1:${port}`,
      gripRetry: { retries: 0 },
    });
    const errors: Error[] = [];
    ev.on('error', (err) => errors.push(err));
    await expect(ev.publish('a', { event: 'x' })).rejects.toBeInstanceOf(GripPublishError);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(GripPublishError);
    expect(ev.stats().publishErrors).toBe(1);
    await ev.close();
    await expect(ev.publish('a', { event: 'x' })).rejects.toMatchObject({ code: 'ERR_SSE_CLOSED' });
    expect(ev.stats().publishErrors).toBe(2);
  });
});

describe('a throwing listener (defect 4)', () => {
  it("an 'error' listener that throws does not stop later publishes, and close() resolves", async () => {
    let failNext = true;
    class FlakyStore extends MemoryStore {
      override async append(items: ReadonlyArray<{ channel: string; body: string }>) {
        if (failNext) {
          failNext = false;
          throw new Error('disk full');
        }
        return super.append(items);
      }
    }
    const { ev, server } = await serve({ history: new FlakyStore() });
    const c = await client(server, 'a');
    let thrown = 0;
    ev.on('error', (err) => {
      if (err instanceof EventStoreError) {
        thrown++;
        throw new Error('listener bug');
      }
    });
    await expect(ev.publish('a', { event: 'first' })).rejects.toBeInstanceOf(EventStoreError);
    expect(thrown).toBe(1);
    // Before the fix the append chain stayed rejected: this never settled and nothing arrived.
    await ev.publish('a', { event: 'second' });
    await c.waitFor((x) => x.named('second').length === 1, 5000, 'second');
    await ev.close();
  });

  it("a 'disconnect' listener that throws does not stall publishing, and close() ends every stream", async () => {
    const { ev, server } = await serve({});
    const leaving = await client(server, 'a');
    const staying = await client(server, 'a');
    const failures: Error[] = [];
    ev.on('error', (err) => failures.push(err));
    ev.on('disconnect', () => {
      throw new Error('disconnect listener bug');
    });
    leaving.close();
    await until(() => ev.stats().connections === 1);
    await ev.publish('a', { event: 'after' });
    await staying.waitFor((x) => x.named('after').length === 1, 5000, 'after');
    const other = await client(server, 'a');
    // close() emits 'disconnect' for each open stream: every one still ends.
    await ev.close();
    await staying.waitFor((x) => x.ended, 5000, 'end');
    await other.waitFor((x) => x.ended, 5000, 'end');
    expect(ev.stats().connections).toBe(0);
    expect(failures.length).toBe(3);
    expect(failures[0]).toBeInstanceOf(ListenerError);
    expect(failures[0]).toMatchObject({ code: 'ERR_SSE_LISTENER', event: 'disconnect' });
    expect((failures[0] as ListenerError).cause).toMatchObject({ message: 'disconnect listener bug' });
  });

  it("a 'connect' listener that throws (or rejects) does not leave the new stream half-open", async () => {
    const { ev, server } = await serve({});
    const failures: Error[] = [];
    ev.on('error', (err) => failures.push(err));
    ev.on('connect', () => {
      throw new Error('connect listener bug');
    });
    ev.on('connect', async () => {
      throw new Error('async connect listener bug');
    });
    const c = await client(server, 'a');
    await ev.publish('a', { event: 'live' });
    await c.waitFor((x) => x.named('live').length === 1, 5000, 'live');
    await until(() => failures.length === 2);
    expect(failures.map((e) => (e.cause as Error).message).sort()).toEqual([
      'async connect listener bug',
      'connect listener bug',
    ]);
  });

  it('with no error listener, or a failing one, the thrown error becomes a process warning', async () => {
    const { ev, server } = await serve({});
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    cleanups.push(() => {
      process.off('warning', onWarning);
    });
    ev.on('connect', () => {
      throw new Error('unobserved bug');
    });
    const c = await client(server, 'a');
    await until(() => warnings.length === 1);
    expect(warnings[0]).toBeInstanceOf(ListenerError);
    ev.on('error', () => {
      throw new Error('error listener bug');
    });
    await expect(ev.publish('a', { event: 'bad\n' })).rejects.toMatchObject({ field: 'event' });
    await until(() => warnings.length >= 2);
    expect(warnings[1]).toMatchObject({ code: 'ERR_SSE_LISTENER', event: 'error' });
    await ev.publish('a', { event: 'still works' });
    await c.waitFor((x) => x.named('still works').length === 1, 5000, 'still works');
  });

  it("a Channel's throwing publishError listener does not break later writes", async () => {
    const { ev, server } = await serve({ history: false });
    const c = await client(server, 'a');
    const failures: Error[] = [];
    ev.on('error', (err) => failures.push(err));
    const channel = ev.channel('a');
    channel.on('publishError', () => {
      throw new Error('publishError listener bug');
    });
    channel.write({ event: 'bad\n' });
    channel.write({ event: 'good' });
    await c.waitFor((x) => x.named('good').length === 1, 5000, 'good');
    await until(() => failures.some((e) => e instanceof ListenerError));
  });
});

describe('a publish whose events were stored (defect 9)', () => {
  it("resolves even if the store's epoch() would fail: the epoch comes with the append", async () => {
    let epochFails = false;
    class EpochlessStore extends MemoryStore {
      override async epoch(): Promise<string> {
        if (epochFails) throw new Error('epoch lookup failed');
        return super.epoch();
      }
    }
    const store = new EpochlessStore();
    const { ev, server } = await serve({ history: store });
    const c = await client(server, 'a');
    epochFails = true;
    // Before the fix this rejected although the event was stored and delivered: a caller
    // retrying it would publish it twice.
    await ev.publish('a', { event: 'stored', data: 1 });
    await c.waitFor((x) => x.named('stored').length === 1, 5000, 'stored');
    epochFails = false;
    const id = c.named('stored')[0]!.id!;
    expect(id).toBe(`${await store.epoch()}-1`);
    expect(ev.stats().publishErrors).toBe(0);
  });

  it('rejects when the append fails, and then nothing was stored or delivered', async () => {
    class FailingStore extends MemoryStore {
      override async append(): Promise<never> {
        throw new Error('down');
      }
    }
    const store = new FailingStore();
    const { ev, server } = await serve({ history: store });
    const c = await client(server, 'a');
    await expect(ev.publish('a', { event: 'lost' })).rejects.toBeInstanceOf(EventStoreError);
    expect((await store.readAfter(['a'], 0)).records).toEqual([]);
    await ev.publish('a', { event: 'lost' }).catch(() => undefined);
    expect(c.named('lost')).toEqual([]);
  });
});
