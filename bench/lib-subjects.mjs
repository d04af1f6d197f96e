// This library as a subject, imported from the built package (`npm run build` → dist/).

import { CHANNEL } from './subjects.mjs';

const options = { keepAlive: false, maxBufferBytes: 1 << 20 };

function subscribersOf(ev, fallback) {
  return () => {
    const s = ev.stats?.();
    const n = s?.connections ?? s?.connected ?? s?.subscribers;
    return typeof n === 'number' ? n : fallback();
  };
}

/** @type {Record<string, { label: string, framework: string, note?: string, library: true, pkg: string, build: () => Promise<import('./subjects.mjs').Built> }>} */
export const LIB_SUBJECTS = {
  'lib-express': {
    label: 'express-eventstream (this) — Express',
    framework: 'Express 5',
    library: true,
    pkg: 'express-eventstream',
    build: async () => {
      const { events, express: sse } = await import('express-eventstream');
      const { default: express } = await import('express');
      const ev = events(options);
      const app = express();
      let open = 0;
      app.get('/events', (_req, res, next) => {
        open++;
        res.once('close', () => open--);
        next();
      });
      app.get('/events', sse({ events: ev }));
      return {
        listener: app,
        publish: (data) => ev.publish(CHANNEL, { event: 'tick', data }),
        subscribers: subscribersOf(ev, () => open),
        close: () => ev.close(),
      };
    },
  },

  'lib-http': {
    label: 'express-eventstream (this) — node:http',
    framework: 'node:http',
    library: true,
    pkg: 'express-eventstream',
    build: async () => {
      const { events, createHandler } = await import('express-eventstream');
      const ev = events(options);
      const handler = createHandler({ events: ev });
      let open = 0;
      return {
        listener(req, res) {
          open++;
          res.once('close', () => open--);
          handler(req, res);
        },
        publish: (data) => ev.publish(CHANNEL, { event: 'tick', data }),
        subscribers: subscribersOf(ev, () => open),
        close: () => ev.close(),
      };
    },
  },

  'lib-fallback': {
    label: 'express-eventstream (this) — `res.write` fallback (behind `compression()`)',
    framework: 'Express 5 + compression',
    note: '`compression()` wraps `res.write`, so the library cannot write to the socket directly',
    library: true,
    pkg: 'express-eventstream',
    build: async () => {
      const { events, express: sse } = await import('express-eventstream');
      const { default: express } = await import('express');
      const { default: compression } = await import('compression');
      const ev = events(options);
      const app = express();
      let open = 0;
      app.use(compression());
      app.get('/events', (_req, res, next) => {
        open++;
        res.once('close', () => open--);
        // make sure compression() leaves the stream alone even if the library did not say so
        res.setHeader('Cache-Control', 'no-cache, no-transform');
        next();
      });
      app.get('/events', sse({ events: ev }));
      return {
        listener: app,
        publish: (data) => ev.publish(CHANNEL, { event: 'tick', data }),
        subscribers: subscribersOf(ev, () => open),
        close: () => ev.close(),
      };
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
