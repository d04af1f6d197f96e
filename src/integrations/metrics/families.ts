// The metric families and what feeds them: counters and histograms from the diagnostics channels,
// gauges (open connections, subscribers per channel) read from `events.stats()` at scrape time,
// so they are exact even for connections opened before `metrics()` was called.
import {
  type DiagnosticsMessages,
  type DiagnosticsSource,
  type EventsView,
  onDiagnostics,
} from 'express-eventstream';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const DELIVERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const GRIP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const REPLAY_BUCKETS = [0, 1, 10, 50, 100, 500, 1000, 5000, 10_000];

export interface FamiliesConfig {
  readonly registry: Registry;
  readonly prefix: string;
  /** Subscribers per channel for the busiest `channelMax` channels; undefined: no channel series. */
  readonly channelMax: number | undefined;
  /** Count only these Events objects; undefined: every one in the process. */
  readonly only: ReadonlySet<EventsView> | undefined;
}

/** Registered families: their full names (to remove them) and the diagnostics subscriptions. */
export interface Families {
  readonly names: readonly string[];
  stop(): void;
}

/** Register every family in `config.registry` and start counting. */
export function registerFamilies({ registry, prefix, channelMax, only }: FamiliesConfig): Families {
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
    'Live event deliveries to direct connections, whichever process published them (one event to three clients counts three).',
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
  const resets = counter(
    'stream_resets_total',
    'stream-reset events sent, by reason and by what sent them (a resume, or a shared bus that lost events).',
    ['namespace', 'reason', 'via'],
  );
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
    "Time from a batch's first publish() to its local fan-out (store append and a shared bus' round trip included), for events published by this process.",
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
      // Absent for another process' events: their publish time is not known here.
      if (m.durationMs !== undefined) deliveryDuration.observe({ namespace }, m.durationMs / 1000);
    }),
    on('slowDrop', (_m, namespace) => slow.inc({ namespace })),
    on('replay', (m, namespace) => {
      replays.inc({ namespace, via: m.via });
      replayed.inc({ namespace }, m.events);
      replaySize.observe({ namespace }, m.events);
    }),
    on('reset', (m, namespace) => resets.inc({ namespace, reason: m.reason, via: m.via })),
    on('gripAttempt', (m, namespace) =>
      gripDuration.observe({ namespace, proxy: m.proxy, outcome: m.outcome }, m.durationMs / 1000),
    ),
    on('gripRetry', (m, namespace) => gripRetries.inc({ namespace, proxy: m.proxy })),
    on('gripFailure', (m, namespace) => gripFailures.inc({ namespace, proxy: m.proxy })),
    on('gripSigRejected', (_m, namespace) => sigRejected.inc({ namespace })),
    on('storeError', (m, namespace) => storeErrors.inc({ namespace, operation: m.operation })),
  ];
  return {
    names,
    stop() {
      for (const off of unsubscribe) off();
    },
  };
}
