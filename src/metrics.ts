// `express-eventstream/metrics`: Prometheus metrics through prom-client (an optional peer
// dependency, imported only by this entry). Counters and histograms are fed by the diagnostics
// channels; gauges (open connections, subscribers per channel) are read from `events.stats()` at
// scrape time, so they are exact even for connections opened before `metrics()` was called.

// The core by package name, like the Redis entry: one copy of its classes (InvalidOptionError).
import {
  type DiagnosticsMessages,
  type DiagnosticsSource,
  type EventsView,
  type HttpRequest,
  type HttpResponse,
  InvalidOptionError,
  onDiagnostics,
} from 'express-eventstream';
import { Counter, register as defaultRegistry, Gauge, Histogram, type Registry } from 'prom-client';

export interface MetricsOptions {
  /** Where the metrics are registered. Default: prom-client's global `register`. */
  registry?: Registry;
  /** Prefix of every metric name. Default `'express_eventstream_'`. */
  prefix?: string;
  /**
   * Count only these Events objects. Default: every Events object in the process. Listing them
   * also makes their connection gauges appear before their first activity.
   */
  events?: EventsView | readonly EventsView[];
  /**
   * Subscribers per channel, labelled with the channel name (off by default: one series per
   * channel). `max` bounds the series per namespace: the busiest `max` channels get a series.
   */
  channelLabels?: false | { max: number };
}

/** What `metrics()` returns. */
export interface EventStreamMetrics {
  readonly registry: Registry;
  /**
   * A `(req, res)` listener answering with the registry's text exposition:
   * `app.get('/metrics', m.handler)` or `http.createServer(m.handler)`.
   */
  readonly handler: (req: HttpRequest, res: HttpResponse) => void;
  /** The exposition as a web `Response`, for Fetch-style servers. */
  response(): Promise<Response>;
  /** Stop listening to the diagnostics channels and remove these metrics from the registry. */
  close(): void;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const DELIVERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const GRIP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const REPLAY_BUCKETS = [0, 1, 10, 50, 100, 500, 1000, 5000, 10_000];

const instances = new WeakMap<Registry, Map<string, EventStreamMetrics>>();

/**
 * Register the library's metrics in a prom-client registry. One set per registry and prefix: a
 * second call with the same registry and prefix returns the first set.
 */
export function metrics(options: MetricsOptions = {}): EventStreamMetrics {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', 'metrics() options must be an object');
  }
  const registry = options.registry ?? defaultRegistry;
  if (registry === null || typeof registry !== 'object' || typeof registry.metrics !== 'function') {
    throw new InvalidOptionError('registry', 'registry must be a prom-client Registry');
  }
  const prefix = options.prefix ?? 'express_eventstream_';
  if (typeof prefix !== 'string' || (prefix !== '' && !NAME.test(prefix))) {
    throw new InvalidOptionError('prefix', 'prefix must match [a-zA-Z_:][a-zA-Z0-9_:]*');
  }
  const channelMax = resolveChannelLabels(options.channelLabels);
  const only = resolveEvents(options.events);
  const existing = instances.get(registry)?.get(prefix);
  if (existing !== undefined) return existing;

  // Every Events object seen, held weakly: a closed and dropped namespace does not leak.
  const seen = new WeakSet<object>();
  const sources = new Set<WeakRef<EventsView>>();
  const remember = (source: EventsView): void => {
    if (seen.has(source)) return;
    seen.add(source);
    sources.add(new WeakRef(source));
  };
  for (const ev of only ?? []) remember(ev);
  const live = (): EventsView[] => {
    const out: EventsView[] = [];
    for (const ref of sources) {
      const ev = ref.deref();
      if (ev === undefined) sources.delete(ref);
      else out.push(ev);
    }
    return out;
  };

  const registers = [registry];
  const names: string[] = [];
  const n = (name: string): string => {
    names.push(prefix + name);
    return prefix + name;
  };
  const ns = ['namespace'] as const;
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name: n(name), help, labelNames, registers });
  const histogram = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: number[],
  ) => new Histogram<L>({ name: n(name), help, labelNames, buckets, registers });

  new Gauge({
    name: n('connections'),
    help: 'Open direct event-stream connections.',
    labelNames: ns,
    registers,
    collect() {
      this.reset();
      for (const ev of live()) this.inc({ namespace: ev.name }, ev.stats().connections);
    },
  });
  if (channelMax !== undefined) {
    new Gauge({
      name: n('channels'),
      help: 'Channels with at least one direct subscriber.',
      labelNames: ns,
      registers,
      collect() {
        this.reset();
        for (const ev of live()) this.inc({ namespace: ev.name }, Object.keys(ev.stats().subscribers).length);
      },
    });
    new Gauge({
      name: n('channel_subscribers'),
      help: `Direct subscribers per channel (the busiest ${channelMax} channels per namespace).`,
      labelNames: ['namespace', 'channel'] as const,
      registers,
      collect() {
        this.reset();
        for (const ev of live()) {
          const top = Object.entries(ev.stats().subscribers)
            .sort((a, b) => b[1] - a[1])
            .slice(0, channelMax);
          for (const [channel, count] of top) this.inc({ namespace: ev.name, channel }, count);
        }
      },
    });
  }

  const opened = counter('connections_opened_total', 'Direct connections opened.', ns);
  const disconnects = counter('disconnects_total', 'Direct connections closed, by reason.', [
    'namespace',
    'reason',
  ]);
  const published = counter('events_published_total', 'Events published (stored and dispatched).', ns);
  const publishedBytes = counter('published_bytes_total', 'Encoded bytes of the events published.', ns);
  const delivered = counter(
    'events_delivered_total',
    'Live event deliveries to direct connections (one event to three clients counts three).',
    ns,
  );
  const deliveredBytes = counter(
    'delivered_bytes_total',
    'Live event bytes written to direct connections.',
    ns,
  );
  const slow = counter('slow_client_drops_total', 'Clients cut off for passing maxBufferBytes.', ns);
  const replays = counter('replays_total', 'Resumed streams (requests with Last-Event-ID).', [
    'namespace',
    'via',
  ]);
  const replayed = counter('events_replayed_total', 'Stored events sent to resuming clients.', ns);
  const resets = counter('stream_resets_total', 'stream-reset events sent, by reason.', [
    'namespace',
    'reason',
  ]);
  const gripRetries = counter('grip_publish_retries_total', 'GRIP publish requests retried.', [
    'namespace',
    'proxy',
  ]);
  const gripFailures = counter('grip_publish_failures_total', 'GRIP publishes that gave up.', [
    'namespace',
    'proxy',
  ]);
  const sigRejected = counter('grip_sig_rejected_total', 'Requests refused for an invalid Grip-Sig.', ns);
  const storeErrors = counter('store_errors_total', 'Event store failures.', ['namespace', 'operation']);
  const deliveryDuration = histogram(
    'delivery_duration_seconds',
    "Time from a batch's first publish() to its local fan-out (store append included).",
    ns,
    DELIVERY_BUCKETS,
  );
  const gripDuration = histogram(
    'grip_publish_duration_seconds',
    'Duration of each GRIP publish request, by outcome.',
    ['namespace', 'proxy', 'outcome'],
    GRIP_BUCKETS,
  );
  const replaySize = histogram('replay_events', 'Stored events sent per resumed stream.', ns, REPLAY_BUCKETS);

  // Each listener filters by source, remembers it for the gauges, and counts.
  const on = <K extends keyof DiagnosticsMessages>(
    key: K,
    count: (m: DiagnosticsMessages[K], namespace: string) => void,
  ): (() => void) =>
    onDiagnostics(key, (m: DiagnosticsMessages[K] & DiagnosticsSource) => {
      if (only !== undefined && !only.has(m.source)) return;
      remember(m.source);
      count(m, m.namespace);
    });
  const unsubscribe = [
    on('connect', (_m, namespace) => opened.inc({ namespace })),
    on('disconnect', (m, namespace) => disconnects.inc({ namespace, reason: m.reason })),
    on('publish', (m, namespace) => {
      let bytes = 0;
      for (const ev of m.batch) bytes += ev.bytes.length;
      published.inc({ namespace }, m.batch.length);
      publishedBytes.inc({ namespace }, bytes);
    }),
    on('deliver', (m, namespace) => {
      delivered.inc({ namespace }, m.deliveries);
      deliveredBytes.inc({ namespace }, m.bytes);
      deliveryDuration.observe({ namespace }, m.durationMs / 1000);
    }),
    on('slowDrop', (_m, namespace) => slow.inc({ namespace })),
    on('replay', (m, namespace) => {
      replays.inc({ namespace, via: m.via });
      replayed.inc({ namespace }, m.events);
      replaySize.observe({ namespace }, m.events);
    }),
    on('reset', (m, namespace) => resets.inc({ namespace, reason: m.reason })),
    on('gripAttempt', (m, namespace) =>
      gripDuration.observe({ namespace, proxy: m.proxy, outcome: m.outcome }, m.durationMs / 1000),
    ),
    on('gripRetry', (m, namespace) => gripRetries.inc({ namespace, proxy: m.proxy })),
    on('gripFailure', (m, namespace) => gripFailures.inc({ namespace, proxy: m.proxy })),
    on('gripSigRejected', (_m, namespace) => sigRejected.inc({ namespace })),
    on('storeError', (m, namespace) => storeErrors.inc({ namespace, operation: m.operation })),
  ];

  let closed = false;
  const instance: EventStreamMetrics = {
    registry,
    handler(_req, res) {
      registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
          res.end(body);
        },
        () => {
          // A failing collect() elsewhere in the registry: answer, never crash.
          if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end('metrics collection failed\n');
        },
      );
    },
    async response() {
      const body = await registry.metrics();
      return new Response(body, {
        headers: { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' },
      });
    },
    close() {
      if (closed) return;
      closed = true;
      for (const off of unsubscribe) off();
      for (const name of names) registry.removeSingleMetric(name);
      instances.get(registry)?.delete(prefix);
    },
  };
  let byPrefix = instances.get(registry);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    instances.set(registry, byPrefix);
  }
  byPrefix.set(prefix, instance);
  return instance;
}

/** `app.get('/metrics', metricsHandler())`: `metrics(options).handler`. */
export function metricsHandler(options?: MetricsOptions): EventStreamMetrics['handler'] {
  return metrics(options).handler;
}

function resolveChannelLabels(value: MetricsOptions['channelLabels']): number | undefined {
  if (value === undefined || value === false) return undefined;
  const max = (value as { max?: unknown } | null)?.max;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1 || max > 10_000) {
    throw new InvalidOptionError(
      'channelLabels',
      'channelLabels must be false or { max } with max from 1 to 10000',
    );
  }
  return max;
}

function resolveEvents(value: MetricsOptions['events']): Set<EventsView> | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  for (const ev of list) {
    if (ev === null || typeof ev !== 'object' || typeof (ev as { stats?: unknown }).stats !== 'function') {
      throw new InvalidOptionError('events', 'events must be an Events object or an array of them');
    }
  }
  return new Set<EventsView>(list);
}
