// `express-eventstream/metrics`: Prometheus metrics through prom-client (an optional peer
// dependency, imported only by this entry). `families.ts` defines the metrics and feeds them from
// the diagnostics channels; `serve.ts` answers scrapes (node:http / Express, and Fetch-style).

// The core by package name, like the Redis entry: one copy of its classes (InvalidOptionError).
import {
  Events,
  type EventsView,
  type HttpRequest,
  type HttpResponse,
  InvalidOptionError,
} from 'express-eventstream';
import { register as defaultRegistry, type Registry } from 'prom-client';
import { type PackageInternals, packageInternals } from '../../compose/internal-key.js';
import { registerFamilies } from './families.js';
import { fetchResponder, nodeResponder } from './serve.js';

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

/** A Fetch-style handler: a web `Request` in, a `Response` with the exposition out. */
export type MetricsFetchHandler = (request?: Request) => Promise<Response>;

/** What `metrics()` returns. */
export interface EventStreamMetrics {
  readonly registry: Registry;
  /**
   * A `(req, res)` listener answering GET and HEAD with the registry's text exposition (405
   * otherwise): `app.get('/metrics', m.handler)` or `http.createServer(m.handler)`.
   */
  readonly handler: (req: HttpRequest, res: HttpResponse) => void;
  /**
   * The same as a Fetch-style handler, for web-standard servers: `Bun.serve({ fetch: m.fetch })`,
   * `Deno.serve(m.fetch)`, a Hono route, `export const GET = m.fetch` in a Next.js route. Called
   * without a request, it resolves to the exposition as for a GET.
   */
  readonly fetch: MetricsFetchHandler;
  /** Stop listening to the diagnostics channels and remove these metrics from the registry. */
  close(): void;
}

const OPTION_KEYS = ['registry', 'prefix', 'events', 'channelLabels'] as const satisfies ReadonlyArray<
  keyof MetricsOptions
>;
// The core's option-checking vocabulary (see compose/internal-key.ts).
const checks: PackageInternals['checks'] = packageInternals(Events).checks;
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

const instances = new WeakMap<Registry, Map<string, EventStreamMetrics>>();

/**
 * Register the library's metrics in a prom-client registry. One set per registry and prefix: a
 * second call with the same registry and prefix returns the first set.
 */
export function metrics(options: MetricsOptions = {}): EventStreamMetrics {
  checks.assertObject(options, 'options', 'metrics() options');
  checks.assertKnownKeys(options, OPTION_KEYS);
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

  const families = registerFamilies({ registry, prefix, channelMax, only });
  let closed = false;
  const instance: EventStreamMetrics = {
    registry,
    handler: nodeResponder(registry),
    fetch: fetchResponder(registry),
    close() {
      if (closed) return;
      closed = true;
      families.stop();
      for (const name of families.names) registry.removeSingleMetric(name);
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

/** Express / node:http in one line: `app.get('/metrics', metricsHandler())` is `metrics(options).handler`. */
export function metricsHandler(options?: MetricsOptions): EventStreamMetrics['handler'] {
  return metrics(options).handler;
}

/**
 * Fetch-style servers in one line: `export const GET = metricsFetchHandler()` (Next.js),
 * `Bun.serve({ fetch: metricsFetchHandler() })`; it is `metrics(options).fetch`.
 */
export function metricsFetchHandler(options?: MetricsOptions): MetricsFetchHandler {
  return metrics(options).fetch;
}

function resolveChannelLabels(value: MetricsOptions['channelLabels']): number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError('channelLabels', 'channelLabels must be false or { max }');
  }
  checks.assertKnownKeys(value, ['max'], 'channelLabels.');
  return checks.integerOption('channelLabels.max', value.max ?? null, { min: 1, max: 10_000 }, 1);
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
