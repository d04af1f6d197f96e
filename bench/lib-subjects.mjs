// This library as a subject, imported from the built package (`npm run build` → dist/).

import { CHANNEL } from './subjects.mjs';

const options = { keepAlive: false, maxBufferBytes: 1 << 20 };

/**
 * The events() options for one run. The standard bench uses `options`; the scale bench turns
 * keep-alives on (`keepAliveMs`), the storm bench passes a counting store (`store`).
 * @param {{ keepAliveMs?: number, store?: object }} [opts]
 */
const optionsFor = (opts = {}) => ({
  ...options,
  ...(opts.keepAliveMs ? { keepAlive: opts.keepAliveMs, keepAliveFormat: 'comment' } : {}),
  ...(opts.store ? { history: opts.store } : {}),
});

// The library's own count (no wrapper listeners: they would add to its heap per connection).
const subscribersOf = (ev) => () => ev.stats().connections;

/** The server-side handle of a library subject: its listener, publish, subscriber count, close. */
const served = (ev, listener, store) => ({
  listener,
  publish: (data) => ev.publish(CHANNEL, { event: 'tick', data }),
  /** @param {string} channel @param {object} data */
  publishTo: (channel, data) => ev.publish(channel, { event: 'tick', data }),
  subscribers: subscribersOf(ev),
  counters: () => ({ ...ev.stats(), subscribers: undefined, store: store?.stats?.() }),
  close: () => ev.close(),
});

/** @type {Record<string, { label: string, framework: string, note?: string, library: true, pkg: string, build: () => Promise<import('./subjects.mjs').Built> }>} */
export const LIB_SUBJECTS = {
  'lib-express': {
    label: 'express-eventstream (this) — Express',
    framework: 'Express 5',
    library: true,
    pkg: 'express-eventstream',
    build: async (opts) => {
      const { events, express: sse } = await import('express-eventstream');
      const { default: express } = await import('express');
      const ev = events(optionsFor(opts));
      const app = express();
      app.get('/events', sse({ events: ev }));
      return served(ev, app, opts?.store);
    },
  },

  'lib-http': {
    label: 'express-eventstream (this) — node:http',
    framework: 'node:http',
    library: true,
    pkg: 'express-eventstream',
    build: async (opts) => {
      const { events, createHandler } = await import('express-eventstream');
      const ev = events(optionsFor(opts));
      const handler = createHandler({ events: ev });
      return served(ev, handler, opts?.store);
    },
  },

  'lib-http-window5': {
    label: 'express-eventstream (this) — node:http, `flushIntervalMs: 5`',
    framework: 'node:http',
    note: '`lib-http` with an opt-in 5 ms coalescing window (issue 13)',
    library: true,
    pkg: 'express-eventstream',
    build: async (opts) => {
      const { events, createHandler } = await import('express-eventstream');
      const ev = events({ ...optionsFor(opts), flushIntervalMs: 5 });
      const handler = createHandler({ events: ev });
      return served(ev, handler, opts?.store);
    },
  },

  'lib-http-metrics': {
    label: 'express-eventstream (this) — node:http, Prometheus metrics on',
    framework: 'node:http',
    note: '`lib-http` with `express-eventstream/metrics` subscribed (issue 14: cost of metrics)',
    library: true,
    pkg: 'express-eventstream',
    build: async () => {
      const { events, createHandler } = await import('express-eventstream');
      const { metrics } = await import('express-eventstream/metrics');
      const { Registry } = await import('prom-client');
      const ev = events(options);
      metrics({ registry: new Registry(), events: ev });
      const handler = createHandler({ events: ev });
      return served(ev, handler);
    },
  },

  'lib-fallback': {
    label: 'express-eventstream (this) — `res.write` fallback (behind `compression()`)',
    framework: 'Express 5 + compression',
    note: '`compression()` wraps `res.write`, so the library cannot write to the socket directly',
    library: true,
    pkg: 'express-eventstream',
    build: async (opts) => {
      const { events, express: sse } = await import('express-eventstream');
      const { default: express } = await import('express');
      const { default: compression } = await import('compression');
      const ev = events(optionsFor(opts));
      const app = express();
      app.use(compression());
      app.get('/events', sse({ events: ev }));
      return served(ev, app, opts?.store);
    },
  },

  'grip-lib': {
    label: 'express-eventstream (this) via Pushpin',
    framework: 'Express 5',
    note: 'events published in one tick go out in one publish request',
    library: true,
    pkg: 'express-eventstream',
    build: async () => {
      const { events, express: sse } = await import('express-eventstream');
      const { default: express } = await import('express');
      const ev = events({ ...options, grip: process.env.GRIP_URL });
      const app = express();
      app.get('/events', sse({ events: ev }));
      return {
        listener: app,
        publish: (data) => ev.publish(CHANNEL, { event: 'tick', data }),
        close: () => ev.close(),
      };
    },
  },
};
