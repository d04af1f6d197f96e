// Prometheus metrics (issue 14): counted from real traffic, exposition valid per promtool, and
// scraped by a real Prometheus server that answers queries about a running app.
import http from 'node:http';
import expressApp from 'express';
import { Gauge, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  events as createEvents,
  createHandler,
  type Events,
  type EventsOptions,
  express,
  InvalidOptionError,
} from '../src/index.js';
import {
  type MetricsFetchHandler,
  metrics,
  metricsFetchHandler,
  metricsHandler,
} from '../src/integrations/metrics/index.js';
import { type PrometheusInstance, promtoolCheckMetrics, startPrometheus } from './helpers/prometheus.js';
import { freePorts } from './helpers/pushpin.js';
import { startServer, type TestServer } from './helpers/server.js';
import { connect, request, type SseClient, until } from './helpers/sse-client.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function app(options: EventsOptions): Promise<{ ev: Events; server: TestServer }> {
  const ev = createEvents(options);
  const handler = createHandler({ events: ev });
  const server = await startServer((req, res) => handler(req, res));
  cleanups.push(async () => {
    await ev.close();
    await server.close();
  });
  return { ev, server };
}

function track(client: SseClient): SseClient {
  cleanups.push(() => client.close());
  return client;
}

/** One sample's value from the registry, by metric name and labels. */
async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const all = await registry.getMetricsAsJSON();
  const family = name.replace(/_(count|sum|bucket)$/, '');
  const metric = all.find((m) => m.name === name) ?? all.find((m) => m.name === family);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const values = (
    metric as unknown as {
      values: Array<{ labels: Record<string, unknown>; value: number; metricName?: string }>;
    }
  ).values;
  const hit = values.filter(
    (v) =>
      (v.metricName === undefined || v.metricName === name) &&
      Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  );
  return hit.reduce((sum, v) => sum + v.value, 0);
}

describe('metrics() from real traffic', () => {
  it('counts connections, events, bytes, replays, resets and delivery time', async () => {
    const registry = new Registry();
    const { ev, server } = await app({ name: 'm1', keepAlive: false, history: { maxEventsPerChannel: 2 } });
    const m = metrics({ registry, events: ev });
    cleanups.push(() => m.close());

    const a = track(await connect(server.url('/?channel=a')));
    track(await connect(server.url('/?channel=a&channel=b')));
    await until(() => ev.stats().connections === 2, 5000, 'two clients');
    expect(await value(registry, 'express_eventstream_connections', { namespace: 'm1' })).toBe(2);
    expect(await value(registry, 'express_eventstream_connections_opened_total', { namespace: 'm1' })).toBe(
      2,
    );

    await Promise.all([ev.publish('a', { data: 1 }), ev.publish('b', { data: 2 })]);
    await ev.publish('a', { data: 3 });
    await ev.publish('a', { data: 4 });
    const stats = ev.stats();
    expect(await value(registry, 'express_eventstream_events_published_total', { namespace: 'm1' })).toBe(4);
    // Every live delivery counted (stats also counts stream-open bytes, the metric only events).
    expect(await value(registry, 'express_eventstream_events_delivered_total', { namespace: 'm1' })).toBe(
      stats.eventsDelivered,
    );
    expect(await value(registry, 'express_eventstream_events_delivered_total', { namespace: 'm1' })).toBe(7);
    expect(
      await value(registry, 'express_eventstream_delivered_bytes_total', { namespace: 'm1' }),
    ).toBeGreaterThan(0);
    expect(
      await value(registry, 'express_eventstream_published_bytes_total', { namespace: 'm1' }),
    ).toBeGreaterThan(0);
    expect(
      await value(registry, 'express_eventstream_delivery_duration_seconds_count', { namespace: 'm1' }),
    ).toBe(3);

    a.close();
    await until(() => ev.stats().connections === 1, 5000, 'one client left');
    expect(await value(registry, 'express_eventstream_connections', { namespace: 'm1' })).toBe(1);
    expect(
      await value(registry, 'express_eventstream_disconnects_total', { namespace: 'm1', reason: 'client' }),
    ).toBe(1);

    // A resume that replays 2 events, and one whose id is too old (2 kept per channel): a reset.
    const idOf = (c: SseClient, n: number) => c.named('message')[n]!.id!;
    const all = track(await connect(server.url('/?channel=a')));
    await all.waitFor((c) => c.named('stream-open').length === 1, 5000, 'stream-open');
    await ev.publish('a', { data: 5 });
    await all.waitFor((c) => c.named('message').length === 1, 5000, 'event 5');
    const latest = idOf(all, 0);
    const seq = Number(latest.split('-').at(-1));
    const epoch = latest.slice(0, latest.lastIndexOf('-'));
    const resumed = track(
      await connect(server.url('/?channel=a'), {
        accept: 'text/event-stream',
        'last-event-id': `${epoch}-${seq - 2}`,
      }),
    );
    await resumed.waitFor((c) => c.named('message').length === 2, 5000, 'replay of 2');
    const reset = track(
      await connect(server.url('/?channel=a'), {
        accept: 'text/event-stream',
        'last-event-id': `${epoch}-1`,
      }),
    );
    await reset.waitFor((c) => c.named('stream-reset').length === 1, 5000, 'reset');
    expect(
      await value(registry, 'express_eventstream_replays_total', { namespace: 'm1', via: 'stream' }),
    ).toBe(2);
    expect(await value(registry, 'express_eventstream_events_replayed_total', { namespace: 'm1' })).toBe(2);
    expect(await value(registry, 'express_eventstream_replay_events_sum', { namespace: 'm1' })).toBe(2);
    expect(await value(registry, 'express_eventstream_replay_events_count', { namespace: 'm1' })).toBe(2);
    expect(
      await value(registry, 'express_eventstream_stream_resets_total', {
        namespace: 'm1',
        reason: 'expired',
      }),
    ).toBe(1);
  });

  it('subscribers per channel only when asked, bounded to the busiest max channels', async () => {
    const registry = new Registry();
    const { ev, server } = await app({ name: 'm2', keepAlive: false });
    const plain = metrics({ registry, events: ev });
    expect((await registry.getMetricsAsJSON()).map((x) => x.name)).not.toContain(
      'express_eventstream_channel_subscribers',
    );
    plain.close();
    const m = metrics({ registry, events: ev, channelLabels: { max: 2 } });
    cleanups.push(() => m.close());
    const subscriptions = { c1: 3, c2: 1, c3: 2, c4: 1 };
    for (const [channel, n] of Object.entries(subscriptions)) {
      for (let i = 0; i < n; i++) track(await connect(server.url(`/?channel=${channel}`)));
    }
    await until(() => ev.stats().connections === 7, 5000, 'seven clients');
    const text = await registry.metrics();
    const series = text.split('\n').filter((l) => l.startsWith('express_eventstream_channel_subscribers{'));
    expect(series.sort()).toEqual([
      'express_eventstream_channel_subscribers{namespace="m2",channel="c1"} 3',
      'express_eventstream_channel_subscribers{namespace="m2",channel="c3"} 2',
    ]);
    expect(await value(registry, 'express_eventstream_channels', { namespace: 'm2' })).toBe(4);
  });

  it('counts only the Events objects it is given, and stops counting after close()', async () => {
    const registry = new Registry();
    const mine = await app({ name: 'mine', keepAlive: false, history: false });
    const other = await app({ name: 'other', keepAlive: false, history: false });
    const m = metrics({ registry, events: [mine.ev] });
    await mine.ev.publish('x', { data: 1 });
    await other.ev.publish('x', { data: 1 });
    expect(await value(registry, 'express_eventstream_events_published_total', { namespace: 'mine' })).toBe(
      1,
    );
    expect(await value(registry, 'express_eventstream_events_published_total', { namespace: 'other' })).toBe(
      0,
    );
    // One set per registry and prefix.
    expect(metrics({ registry })).toBe(m);
    m.close();
    expect(await registry.getMetricsAsJSON()).toEqual([]);
    const again = metrics({ registry, events: mine.ev });
    cleanups.push(() => again.close());
    expect(again).not.toBe(m);
    expect(await value(registry, 'express_eventstream_events_published_total', { namespace: 'mine' })).toBe(
      0,
    );
  });

  it('refuses invalid options with InvalidOptionError', () => {
    const registry = new Registry();
    const bad: unknown[] = [
      { registry: {} },
      { registry, prefix: 'has space' },
      { registry, channelLabels: { max: 0 } },
      { registry, channelLabels: true },
      { registry, events: {} },
      { registry, channelLabel: { max: 5 } },
      'nope',
      [],
    ];
    for (const options of bad) {
      expect(() => metrics(options as Parameters<typeof metrics>[0]), JSON.stringify(options)).toThrow(
        InvalidOptionError,
      );
    }
    // An unknown key is named, with the closest valid one.
    expect(() => metrics({ registry, Prefix: 'x_' } as never)).toThrow(
      /unknown option 'Prefix'; did you mean 'prefix'\?/,
    );
    expect(() => metrics({ registry, Prefix: 'x_' } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_SSE_INVALID_OPTION', option: 'Prefix' }),
    );
  });
});

describe('serving /metrics', () => {
  it('handler answers node:http GET and HEAD with the text exposition, other methods 405', async () => {
    const registry = new Registry();
    const { ev } = await app({ name: 'srv', keepAlive: false });
    const m = metrics({ registry, events: ev });
    cleanups.push(() => m.close());
    const server = await startServer(m.handler);
    cleanups.push(() => server.close());
    const res = await request(server.url('/metrics'));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(registry.contentType);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toContain('# TYPE express_eventstream_connections gauge');
    expect(res.body).toContain('express_eventstream_connections{namespace="srv"} 0');
    const head = await request(server.url('/metrics'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe(registry.contentType);
    expect(head.body).toBe('');
    const post = await request(server.url('/metrics'), { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it('fetch answers a web Request with a Response: GET and HEAD, 405 otherwise; metricsFetchHandler() is m.fetch', async () => {
    const registry = new Registry();
    const { ev } = await app({ name: 'web', keepAlive: false });
    const handler: MetricsFetchHandler = metricsFetchHandler({ registry, events: ev });
    const m = metrics({ registry });
    cleanups.push(() => m.close());
    expect(handler).toBe(m.fetch);
    await ev.publish('x', { data: 1 });

    const res = await handler(new Request('http://app.test/metrics'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(registry.contentType);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const text = await res.text();
    expect(text).toContain('express_eventstream_events_published_total{namespace="web"} 1');
    expect(text).toBe(await registry.metrics());
    const check = await promtoolCheckMetrics(text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);

    const head = await handler(new Request('http://app.test/metrics', { method: 'HEAD' }));
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await handler(new Request('http://app.test/metrics', { method: 'POST', body: 'x' }));
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    // Without a request: the exposition, as for a GET.
    expect(await (await m.fetch()).text()).toContain('namespace="web"');
  });

  it('a registry whose collect() fails answers 500 on both handlers, and the process carries on', async () => {
    const registry = new Registry();
    const m = metrics({ registry });
    cleanups.push(() => m.close());
    registry.registerMetric(
      new Gauge({
        name: 'broken',
        help: 'fails to collect',
        registers: [],
        collect() {
          throw new Error('collect failed');
        },
      }),
    );
    expect((await m.fetch(new Request('http://app.test/metrics'))).status).toBe(500);
    const server = await startServer(m.handler);
    cleanups.push(() => server.close());
    expect((await request(server.url('/metrics'))).status).toBe(500);
  });

  it('promtool check metrics accepts the exposition, every metric family present', async () => {
    const registry = new Registry();
    const [deadPort] = await freePorts(1);
    const { ev, server } = await app({
      name: 'lint',
      keepAlive: false,
      grip: `http://127.0.0.1:${deadPort}?key=k`,
      gripRetry: { retries: 1, minDelayMs: 1, maxDelayMs: 2 },
    });
    const m = metrics({ registry, events: ev, channelLabels: { max: 10 } });
    cleanups.push(() => m.close());
    const c = track(await connect(server.url('/?channel=a')));
    // The proxy is down: the publish is delivered locally, then rejects after its one retry
    // (that failure is what fills the GRIP families below).
    const failure = await ev.publish('a', { data: 1 }).then(
      () => 'resolved',
      (e: unknown) => e,
    );
    expect(failure).toMatchObject({ code: 'ERR_GRIP_PUBLISH', attempts: 2, status: undefined });
    await c.waitFor((x) => x.named('message').length === 1, 5000, 'event');
    const text = await registry.metrics();
    expect(text).toContain('express_eventstream_grip_publish_duration_seconds_bucket{');
    expect(text).toContain('express_eventstream_grip_publish_retries_total{');
    const check = await promtoolCheckMetrics(text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);
    // A broken exposition is caught by the same check (the check can fail).
    const broken = await promtoolCheckMetrics('# TYPE x_total counter\nx_total{a="1" 1\n');
    expect(broken.code).not.toBe(0);
  });
});

/** Waits until a query's single value equals `want` (re-querying as scrapes arrive). */
function queryUntilOn(p: PrometheusInstance): (expr: string, want: number) => Promise<void> {
  return async (expr, want) => {
    const deadline = Date.now() + 20_000;
    let last: unknown;
    for (;;) {
      const result = await p.query(expr);
      last = result;
      if (result.length === 1 && result[0]!.value === want) return;
      if (Date.now() > deadline) throw new Error(`${expr}: wanted ${want}, last ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
}

/**
 * After the waits: the scraped connection gauge, delivered counter and disconnects per reason
 * equal the namespace's own stats() and `want` (a wait only shows a value was reached once;
 * this also catches series that should not exist, such as a disconnect under a second reason).
 */
async function expectScrapedEqualsServer(
  p: PrometheusInstance,
  namespace: string,
  ev: Events,
  want: { connections: number; delivered: number; disconnects: Record<string, number> },
): Promise<void> {
  const one = async (expr: string) => (await p.query(expr)).map((r) => r.value);
  const stats = ev.stats();
  expect(stats.connections).toBe(want.connections);
  expect(stats.eventsDelivered).toBe(want.delivered);
  expect(await one(`express_eventstream_connections{namespace="${namespace}"}`)).toEqual([want.connections]);
  expect(await one(`express_eventstream_events_delivered_total{namespace="${namespace}"}`)).toEqual([
    want.delivered,
  ]);
  const byReason = await p.query(
    `sum by (reason) (express_eventstream_disconnects_total{namespace="${namespace}"}) > 0`,
  );
  expect(Object.fromEntries(byReason.map((r) => [r.metric.reason, r.value]))).toEqual(want.disconnects);
}

/**
 * Serves a Fetch-style handler over node:http: the glue a Fetch runtime (Bun.serve, Deno.serve,
 * a Next.js route) provides, written here with nothing but the web Request/Response globals.
 */
function serveFetch(handler: (request: Request) => Promise<Response>): Promise<TestServer> {
  return startServer((req, res) => {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string') headers.set(name, value);
    }
    const url = `http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`;
    void handler(new Request(url, { method: req.method, headers })).then(async (response) => {
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    });
  });
}

describe('a real Prometheus server', () => {
  let prom: PrometheusInstance | undefined;
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail' && prom !== undefined) console.error(prom.log());
    await prom?.stop();
    prom = undefined;
  });

  it('scrapes an Express app mounted with metricsHandler(); the connection gauge equals the open clients', async () => {
    const registry = new Registry();
    const ev = createEvents({ name: 'prom', keepAlive: false });
    const web = expressApp();
    web.get('/events', express({ events: ev }));
    web.get('/metrics', metricsHandler({ registry, events: ev }));
    const server = http.createServer(web);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    cleanups.push(async () => {
      metrics({ registry }).close();
      await ev.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });

    prom = await startPrometheus({ targets: [`127.0.0.1:${port}`], scrapeIntervalMs: 250 });
    const queryUntil = queryUntilOn(prom);
    const gauge = 'express_eventstream_connections{namespace="prom"}';
    await queryUntil('up{job="app"}', 1);
    await queryUntil(gauge, 0);

    const clients: SseClient[] = [];
    for (let i = 0; i < 3; i++)
      clients.push(track(await connect(`http://127.0.0.1:${port}/events?channel=p`)));
    await queryUntil(gauge, 3);
    clients[0]!.close();
    await queryUntil(gauge, 2);
    for (let i = 0; i < 5; i++) await ev.publish('p', { data: i });
    await queryUntil('express_eventstream_events_delivered_total{namespace="prom"}', 10);
    await queryUntil('sum(express_eventstream_disconnects_total{namespace="prom",reason="client"})', 1);
    // Prometheus' view equals what the server counted itself, reason by reason.
    await expectScrapedEqualsServer(prom, 'prom', ev, {
      connections: 2,
      delivered: 10,
      disconnects: { client: 1 },
    });
  });

  it('scrapes a Fetch-style handler (metricsFetchHandler()); the connection gauge equals the open clients', async () => {
    const registry = new Registry();
    const { ev, server } = await app({ name: 'prom-fetch', keepAlive: false });
    const metricsServer = await serveFetch(metricsFetchHandler({ registry, events: ev }));
    cleanups.push(async () => {
      metrics({ registry }).close();
      await metricsServer.close();
    });
    prom = await startPrometheus({ targets: [`127.0.0.1:${metricsServer.port}`], scrapeIntervalMs: 250 });
    const queryUntil = queryUntilOn(prom);
    const gauge = 'express_eventstream_connections{namespace="prom-fetch"}';
    await queryUntil('up{job="app"}', 1);
    await queryUntil(gauge, 0);
    const clients: SseClient[] = [];
    for (let i = 0; i < 4; i++) clients.push(track(await connect(server.url('/?channel=f'))));
    await queryUntil(gauge, 4);
    clients[3]!.close();
    await queryUntil(gauge, 3);
    for (let i = 0; i < 2; i++) await ev.publish('f', { data: i });
    await queryUntil('express_eventstream_events_delivered_total{namespace="prom-fetch"}', 6);
    await expectScrapedEqualsServer(prom, 'prom-fetch', ev, {
      connections: 3,
      delivered: 6,
      disconnects: { client: 1 },
    });
  });
});
