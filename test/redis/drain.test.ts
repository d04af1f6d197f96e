// A rolling deploy, for real: 1,000 clients on origin process A, events published continuously
// through origin B (both on one Redis as history and bus). A gets SIGTERM and follows the
// documented recipe (`server.close()`, `events.close({ drainMs: 2000 })`). The streams must end
// spread across the window (the distribution of their ends is measured and printed), each after
// its own `retry:`, and every client, reconnecting to B with its Last-Event-ID after that delay,
// must end up with every event exactly once, in order.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/sse-client.js';
import { type OriginProcess, publishOk, startOrigin } from './origin-process.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const CLIENTS = 1000;
const DRAIN_MS = 2000;

/** One client: a plain socket per connection, parsing only what the test checks. */
interface DrainClient {
  /** Data of every `event: n`, across connections. */
  readonly received: number[];
  lastId: string | undefined;
  /** X-Origin of each connection. */
  readonly servedBy: string[];
  readonly retries: number[];
  opened: number;
  resets: number;
  /** ms after the SIGTERM when the first connection ended; when the second one's response came. */
  endedAt: number | undefined;
  reconnectedAt: number | undefined;
  /** Events received from a (before its stream ended). */
  fromA: number;
  /** Set if a connection failed or the second one ended. */
  failure: string | undefined;
}

function parseBlock(client: DrainClient, block: string): void {
  let event = 'message';
  let data: string | undefined;
  for (const line of block.split('\n')) {
    const colon = line.indexOf(': ');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 2);
    if (field === 'id') client.lastId = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data = value;
    else if (field === 'retry') client.retries.push(Number(value));
  }
  if (event === 'n' && data !== undefined) client.received.push(Number(data));
  else if (event === 'stream-open') client.opened++;
  else if (event === 'stream-reset') client.resets++;
}

/** Open one connection for `client`; `onEnd` runs when the server ends it. Returns its request. */
function stream(url: string, client: DrainClient, onEnd: () => void): http.ClientRequest {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (client.lastId !== undefined) headers['last-event-id'] = client.lastId;
  const req = http.get(url, { headers, agent: false }, (res) => {
    client.servedBy.push(String(res.headers['x-origin']));
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        parseBlock(client, buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    });
    res.on('end', onEnd);
    res.on('error', (err) => {
      client.failure ??= `response: ${err.message}`;
    });
  });
  req.on('error', (err) => {
    client.failure ??= `request: ${err.message}`;
  });
  return req;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const BUCKET_MS = DRAIN_MS / 10;

/** The 5/25/50/75/95 % points of `times` and their counts per BUCKET_MS from 0 to the last. */
function spread(times: readonly number[]): { points: number[]; buckets: number[] } {
  const sorted = [...times].sort((x, y) => x - y);
  const points = [0.05, 0.25, 0.5, 0.75, 0.95].map((p) => Math.round(quantile(sorted, p)));
  const buckets = Array.from({ length: Math.floor(Math.max(0, sorted.at(-1)!) / BUCKET_MS) + 1 }, () => 0);
  for (const t of sorted) buckets[Math.max(0, Math.floor(t / BUCKET_MS))]!++;
  return { points, buckets };
}

function describeSpread(times: readonly number[], withBuckets = true): string {
  const { points, buckets } = spread(times);
  const counts = withBuckets ? `; per ${BUCKET_MS} ms: ${buckets.join(' ')}` : '';
  return `5/25/50/75/95 % at ${points.join(' / ')}${counts}`;
}

/**
 * Spread across the window, judged on a's own clock (ms after its SIGTERM handler started) so
 * that load on this side cannot matter. The drain cuts the window into one slot per stream and
 * ends each inside its own slot, so the k-th end can never come before the k-th slot opens: a
 * timer does not fire early, and a loaded process only makes ends later. That lower bound fails
 * ends all at once (or half of them), at any load. Ends piled up at the end of the window are
 * caught by how late they are against their slot: half of them end within a quarter of the
 * window of it, which leaves a loaded process' stalls plenty of room.
 */
function expectSpread(ends: readonly number[]): void {
  const sorted = [...ends].sort((x, y) => x - y);
  const slot = DRAIN_MS / sorted.length;
  // The loop's cached time at the handler can trail performance.now() a little.
  const tolerance = DRAIN_MS / 20;
  const early = sorted.findIndex((t, k) => t < Math.floor(k * slot) - tolerance);
  expect(early, `first end before its slot: ${early} at ${sorted[early]} ms`).toBe(-1);
  expect(medianLateness(ends), 'median lateness against the slot (ms)').toBeLessThan(DRAIN_MS / 4);
}

/** The median of how long after the end of its slot each end came (the k-th end, k-th slot). */
function medianLateness(ends: readonly number[]): number {
  const slot = DRAIN_MS / ends.length;
  const sorted = [...ends].sort((x, y) => x - y);
  return quantile(
    sorted.map((t, k) => t - (k + 1) * slot).sort((x, y) => x - y),
    0.5,
  );
}

describe('graceful drain across processes', () => {
  it('1,000 clients: close({ drainMs: 2000 }) on SIGTERM ends them spread across the window; each resumes on another process without loss', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const dir = mkdtempSync(join(tmpdir(), 'ees-drain-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const drainLog = join(dir, 'a.json');
    const env = { REDIS_URL: redis.url, NS: 'drain', BUS: '1', DRAIN_MS: String(DRAIN_MS) };
    const [a, b] = (await Promise.all([
      startOrigin('a', { ...env, DRAIN_LOG: drainLog }, cleanups),
      startOrigin('b', env, cleanups),
    ])) as [OriginProcess, OriginProcess];
    const path = '/events?channel=d';

    const clients: DrainClient[] = [];
    const requests: http.ClientRequest[] = [];
    cleanups.push(() => {
      for (const req of requests) req.destroy();
    });
    let t0 = Number.NaN;
    const reconnect = (client: DrainClient) => {
      client.reconnectedAt = undefined;
      const req = stream(b.url(path), client, () => {
        client.failure ??= 'the stream on b ended';
      });
      req.once('response', () => {
        client.reconnectedAt = performance.now() - t0;
      });
      requests.push(req);
    };
    // In groups: a burst of a thousand connects at once can overflow the listen backlog.
    for (let i = 0; i < CLIENTS; i += 100) {
      for (let k = 0; k < 100; k++) {
        const client: DrainClient = {
          received: [],
          lastId: undefined,
          servedBy: [],
          retries: [],
          opened: 0,
          resets: 0,
          endedAt: undefined,
          reconnectedAt: undefined,
          fromA: 0,
          failure: undefined,
        };
        clients.push(client);
        const req = stream(a.url(path), client, () => {
          client.endedAt = performance.now() - t0;
          client.fromA = client.received.length;
          // As EventSource does: wait the last retry: before reconnecting (to the next process).
          setTimeout(() => reconnect(client), client.retries.at(-1) ?? 0);
        });
        requests.push(req);
      }
      await until(() => clients.every((c) => c.opened === 1 || c.failure), 20_000, 'clients on a');
    }
    expect(clients.filter((c) => c.failure !== undefined)).toEqual([]);

    // Events published continuously through b, one at a time (paced, so 1,000 clients keep up).
    let published = 0;

    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await publishOk(b, 'd', [{ event: 'n', data: published + 1 }]);
        published++;

        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    cleanups.push(async () => {
      publishing = false;
      await publisher.catch(() => {});
    });
    await until(() => clients.every((c) => c.received.length >= 5), 20_000, 'five events on a');

    // SIGTERM: a drains over 2 s while b keeps publishing (a's bus keeps delivering meanwhile).
    t0 = performance.now();
    const publishedAtSigterm = published;
    const stopped = a.stop();
    await until(
      () => clients.every((c) => (c.opened === 2 && c.reconnectedAt !== undefined) || c.failure),
      60_000,
      'every client back on b',
    );
    await stopped;
    const from = published;
    await until(() => published >= from + 5, 20_000, 'five more events');
    publishing = false;
    await publisher;
    const total = published;
    await until(
      () => clients.every((c) => c.received.at(-1) === total || c.failure),
      30_000,
      'every event on every client',
    );

    // The distribution of the ends (ms after SIGTERM): as the clients saw them, and as a itself
    // ended them (its own clock, from its SIGTERM handler). Printed for the record.
    const seen = clients.map((c) => c.endedAt!);
    const ended = JSON.parse(readFileSync(drainLog, 'utf8')) as number[];
    const back = clients.map((c) => c.reconnectedAt!);
    console.log(
      [
        `drain of ${CLIENTS} streams over ${DRAIN_MS} ms (${total} events, published through b):`,
        `  ends seen by the clients, ms after SIGTERM: ${describeSpread(seen)}`,
        `  ends by a's own clock, ms after its SIGTERM handler: ${describeSpread(ended)}; median ${Math.round(medianLateness(ended))} ms after its slot`,
        `  reconnections to b, ms after SIGTERM: ${describeSpread(back, false)}`,
      ].join('\n'),
    );
    expect(ended).toHaveLength(CLIENTS);
    // The clients' view is printed only: it adds this process' load to a's timing.
    expectSpread(ended);

    // Every client: on a then b, one retry: in the window, everything once and in order.
    expect(clients.filter((c) => c.failure !== undefined).map((c) => c.failure)).toEqual([]);
    const expected = Array.from({ length: total }, (_, i) => i + 1);
    const wrong = clients.filter(
      (c) => c.received.length !== total || c.received.some((v, i) => v !== i + 1),
    );
    expect(wrong.length, `first wrong: ${JSON.stringify(wrong[0]?.received)}`).toBe(0);
    expect(clients[0]!.received).toEqual(expected);
    for (const c of clients) {
      expect(c.servedBy).toEqual(['a', 'b']);
      expect(c.retries).toHaveLength(1);
      expect(c.retries[0]).toBeLessThanOrEqual(DRAIN_MS);
      expect(c.resets).toBe(0);
    }
    // Streams still open on a got the events published meanwhile (a's bus delivers during the
    // drain); the early ones got them replayed by b.
    expect(Math.max(...clients.map((c) => c.fromA))).toBeGreaterThan(publishedAtSigterm + 1);
    expect(new Set(clients.map((c) => c.retries[0])).size).toBeGreaterThan(CLIENTS / 4);
    // The retry: values cover the window: a fair share in each quarter of it.
    for (let q = 0; q < 4; q++) {
      const lo = (q * DRAIN_MS) / 4;
      const inQuarter = clients.filter((c) => c.retries[0]! >= lo && c.retries[0]! < lo + DRAIN_MS / 4);
      expect(inQuarter.length, `retry: values in quarter ${q + 1}`).toBeGreaterThan(CLIENTS / 8);
    }
  }, 180_000);
});
