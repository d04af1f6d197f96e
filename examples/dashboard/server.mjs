// `npm run example:dashboard`: a live dashboard of this server's own metrics.
//
// Every second the server reads `events.stats()` and publishes a `metrics` event on the
// `metrics` channel: open connections, per-channel subscribers, and rates (events published and
// delivered per second, bytes per second) computed from the counters' change since the last
// sample. A small simulated workload publishes on a `traffic` channel so the rates move; the
// buttons on the page change its rate. Open the page in several tabs to see the connection
// count follow. With prom-client installed, GET /metrics serves the same numbers (and more) in
// Prometheus format through express-eventstream/metrics.
//
//   PORT                 HTTP port (default 3003; 0 picks a free one)
//   HOST                 address to listen on (default 127.0.0.1)
//   METRICS_INTERVAL_MS  time between samples (default 1000)
import { fileURLToPath } from 'node:url';
import express from 'express';
import { events as createEvents, express as eventstream } from 'express-eventstream';
import { createExampleApp, intFromEnv, runExample } from '../shared/serve.mjs';

const INTERVAL_MS = intFromEnv('METRICS_INTERVAL_MS', 1000, { min: 10, max: 60_000 });
const MAX_TRAFFIC_RATE = 500;

// The metrics channel needs no history: a dashboard wants the latest sample, not a replay.
// Without history, events carry no ids, and a reconnecting page simply gets the next sample.
const events = createEvents({ history: false });
events.on('error', (err) => console.error(`events error: ${err.code ?? ''} ${err.message}`));

// --- Simulated traffic: `rate` events per second on the `traffic` channel -------------------------
let trafficRate = 20;
let trafficTimer;
let sent = 0;
function scheduleTraffic() {
  clearInterval(trafficTimer);
  trafficTimer = undefined;
  if (trafficRate === 0) return;
  // At most 50 timer ticks a second; each publishes its share of the rate.
  const ticks = Math.min(trafficRate, 50);
  trafficTimer = setInterval(() => {
    const burst = Math.round(trafficRate / ticks);
    for (let i = 0; i < burst; i++) {
      events.publish('traffic', { event: 'sample', data: { n: sent++ } }).catch(() => {});
    }
  }, 1000 / ticks);
}
scheduleTraffic();

// --- Sampling --------------------------------------------------------------------------------
let previous = { at: performance.now(), stats: events.stats() };
const startedAt = Date.now();

function sample() {
  const now = performance.now();
  const stats = events.stats();
  const seconds = (now - previous.at) / 1000;
  const before = previous.stats;
  const rate = (key) => Math.round((stats[key] - before[key]) / seconds);
  previous = { at: now, stats };
  return {
    at: new Date().toISOString(),
    uptimeSec: Math.round((Date.now() - startedAt) / 1000),
    connections: stats.connections,
    subscribers: stats.subscribers,
    connectionsOpened: stats.connectionsOpened,
    publishedPerSec: rate('eventsPublished'),
    deliveredPerSec: rate('eventsDelivered'),
    bytesPerSec: rate('bytesDelivered'),
    eventsPublished: stats.eventsPublished,
    slowClientsDropped: stats.slowClientsDropped,
    publishErrors: stats.publishErrors,
    trafficRate,
    rssBytes: process.memoryUsage.rss(),
  };
}

const metricsTimer = setInterval(() => {
  events.publish('metrics', { event: 'metrics', data: sample() }).catch(() => {});
}, INTERVAL_MS);

// --- HTTP --------------------------------------------------------------------------------------
const app = createExampleApp(fileURLToPath(new URL('./public/', import.meta.url)));

// The dashboard subscribes to `metrics` only; `traffic` exists to be counted, not shown.
app.get('/events', eventstream({ events, channels: () => ['metrics'] }));

app.post('/traffic', express.json({ limit: '1kb' }), (req, res) => {
  const rate = req.body?.rate;
  if (!Number.isInteger(rate) || rate < 0 || rate > MAX_TRAFFIC_RATE) {
    res.status(400).json({ error: `rate must be an integer from 0 to ${MAX_TRAFFIC_RATE}` });
    return;
  }
  trafficRate = rate;
  scheduleTraffic();
  res.json({ rate });
});

// The same numbers for a Prometheus scraper: express-eventstream/metrics needs the optional
// prom-client package; without it the example runs without /metrics.
let prometheus;
try {
  const { metrics } = await import('express-eventstream/metrics');
  prometheus = metrics({ events });
  app.get('/metrics', prometheus.handler);
} catch {
  console.log('prom-client is not installed: no /metrics endpoint (npm install prom-client)');
}

await runExample(app, {
  name: 'dashboard example',
  defaultPort: 3003,
  onClose: async () => {
    clearInterval(metricsTimer);
    clearInterval(trafficTimer);
    prometheus?.close();
    await events.close();
  },
});
