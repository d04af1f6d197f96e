// Subjects under test. Each entry builds, inside the server process, an HTTP request
// listener that serves the SSE endpoint (GET /events?channel=bench) and a `publish(data)`
// function that sends one event named `tick` with the given data to every subscriber of
// channel `bench`. Keep-alives/heartbeats are switched off where a library allows it.
//
// `subscribers()` reports how many clients the library has registered; subjects that have
// no such API use a count kept by the wrapper around the handler (see server.mjs).

import http from 'node:http';

export const CHANNEL = 'bench';

const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' };

/** @typedef {{ listener: http.RequestListener, publish: (data: object) => unknown, publishTo?: (channel: string, data: object) => unknown, subscribers?: () => number, counters?: () => object, close?: () => Promise<void> | void }} Built */

/** @type {Record<string, { label: string, pkg?: string, framework: string, note?: string, library?: boolean, build: (opts?: { keepAliveMs?: number, store?: object }) => Promise<Built> }>} */
export const SUBJECTS = {
  raw: {
    label: 'raw `res.write` baseline',
    framework: 'node:http',
    note: 'encodes each event once; `res.write(buf)` per subscriber',
    build: async (opts) => {
      /** @type {Set<http.ServerResponse>} */
      const clients = new Set();
      if (opts?.keepAliveMs) {
        // the scale bench's keep-alive baseline: one timer, a comment line to every response
        const ka = Buffer.from(':\n\n');
        setInterval(() => {
          for (const res of clients) res.write(ka);
        }, opts.keepAliveMs).unref();
      }
      return {
        listener(_req, res) {
          res.writeHead(200, SSE_HEADERS);
          res.write(':ok\n\n');
          clients.add(res);
          res.on('close', () => clients.delete(res));
        },
        publish(data) {
          const buf = Buffer.from(`event: tick\ndata: ${JSON.stringify(data)}\n\n`);
          for (const res of clients) res.write(buf);
        },
        subscribers: () => clients.size,
      };
    },
  },

  'raw-socket': {
    label: 'raw pre-framed chunk → `res.socket` (corked per tick)',
    framework: 'node:http',
    note: 'each event framed once as an HTTP chunk; written to the socket, which is corked until the next tick',
    build: async () => {
      /** @type {Set<import('node:net').Socket>} */
      const sockets = new Set();
      /** @type {import('node:net').Socket[]} */
      let corked = [];
      let scheduled = false;
      const uncorkAll = () => {
        scheduled = false;
        const list = corked;
        corked = [];
        for (const s of list) s.uncork();
      };
      return {
        listener(_req, res) {
          res.writeHead(200, SSE_HEADERS);
          res.write(':ok\n\n'); // sends the head; the body is chunked from here on
          const socket = res.socket;
          if (!socket || !res.chunkedEncoding) {
            res.end(); // the bench client always speaks HTTP/1.1; nothing else is needed here
            return;
          }
          socket.setNoDelay(true);
          sockets.add(socket);
          res.on('close', () => sockets.delete(socket));
        },
        publish(data) {
          const body = Buffer.from(`event: tick\ndata: ${JSON.stringify(data)}\n\n`);
          const frame = Buffer.concat([
            Buffer.from(`${body.length.toString(16)}\r\n`),
            body,
            Buffer.from('\r\n'),
          ]);
          if (!scheduled) {
            scheduled = true;
            for (const s of sockets) {
              s.cork();
              corked.push(s);
            }
            process.nextTick(uncorkAll);
          }
          for (const s of sockets) s.write(frame);
        },
        subscribers: () => sockets.size,
      };
    },
  },

  'raw-express': {
    label: 'raw `res.write` in an Express route',
    framework: 'Express 5',
    note: 'the `raw` subject mounted as an Express 5 route: shows what Express itself costs per connection',
    build: async (opts) => {
      const { default: express } = await import('express');
      const raw = await SUBJECTS.raw.build(opts);
      const app = express();
      app.get('/events', (req, res) => raw.listener(req, res));
      return { ...raw, listener: app };
    },
  },

  'sse-channel': {
    label: 'sse-channel',
    pkg: 'sse-channel',
    framework: 'node:http',
    build: async () => {
      const { default: SseChannel } = await import('sse-channel');
      const channel = new SseChannel({ jsonEncode: true, pingInterval: 3_600_000 });
      return {
        listener(req, res) {
          channel.addClient(req, res);
        },
        publish(data) {
          channel.send({ event: 'tick', data });
        },
        subscribers: () => channel.getConnectionCount(),
        close: () => channel.close(),
      };
    },
  },

  'better-sse': {
    label: 'better-sse',
    pkg: 'better-sse',
    framework: 'node:http',
    build: async () => {
      const { createChannel, createSession } = await import('better-sse');
      const channel = createChannel();
      return {
        listener(req, res) {
          createSession(req, res, { keepAlive: null, retry: null }).then(
            (session) => channel.register(session),
            () => res.destroy(),
          );
        },
        publish(data) {
          channel.broadcast(data, 'tick');
        },
        subscribers: () => channel.sessionCount,
      };
    },
  },

  'express-sse': {
    label: 'express-sse',
    pkg: 'express-sse',
    framework: 'Express 5',
    note: '`new SSE([], { isSerialized: false })` + `res.flushHeaders()` in the route: with initial data (the default) every connect re-sends it to all open connections (O(N²): 10,000 clients did not connect within 60 s); without it nothing, not even the head, is sent before the first event',
    build: async () => {
      const { default: SSE } = await import('express-sse');
      const { default: express } = await import('express');
      const sse = new SSE([], { isSerialized: false });
      const app = express();
      app.get('/events', (req, res) => {
        sse.init(req, res);
        res.flushHeaders();
      });
      return {
        listener: app,
        publish(data) {
          sse.send(data, 'tick');
        },
        subscribers: () => sse.listenerCount('data'),
      };
    },
  },

  original: {
    label: 'express-eventstream 2.0.2 (original)',
    pkg: 'express-eventstream-original',
    framework: 'Express 5',
    note: 'keep-alive timer per connection cannot be switched off (20 s)',
    build: async () => {
      const { default: orig } = await import('express-eventstream-original');
      const { default: express } = await import('express');
      const events = orig.events();
      const channel = events.channel(CHANNEL);
      const app = express();
      app.get('/events', orig.express({ events }), () => {
        /* the handler calls next() after starting the stream; end the chain here */
      });
      return {
        listener: app,
        publish(data) {
          channel.write({ event: 'tick', data });
        },
      };
    },
  },

  fanout: {
    label: '@fanoutio/eventstream',
    pkg: '@fanoutio/eventstream',
    framework: 'Express 5',
    note: 'keep-alive timer per connection cannot be switched off (20 s)',
    build: async () => {
      const { EventStream } = await import('@fanoutio/eventstream');
      const { default: express } = await import('express');
      const es = new EventStream();
      const app = express();
      app.get('/events', es(CHANNEL));
      return {
        listener: app,
        publish(data) {
          es.publishEvent(CHANNEL, { event: 'tick', data });
        },
      };
    },
  },
};

// GRIP origins (bench/grip.mjs): the SSE endpoint answers Pushpin with hold instructions and
// publish() goes to Pushpin's publish API at GRIP_URL.
export const GRIP_SUBJECTS = {
  'grip-original': {
    label: 'express-eventstream 2.0.2 (original) via Pushpin',
    pkg: 'express-eventstream-original',
    framework: 'Express 5',
    note: 'one publish request per event, sent one after another',
    build: async () => {
      const { default: orig } = await import('express-eventstream-original');
      const { default: express } = await import('express');
      const grip = process.env.GRIP_URL;
      const events = orig.events({ grip });
      const channel = events.channel(CHANNEL);
      const app = express();
      app.get('/events', orig.express({ events, grip }), () => {});
      return {
        listener: app,
        publish(data) {
          channel.write({ event: 'tick', data });
        },
      };
    },
  },
};

export const LIBRARY_SUBJECTS = [
  'lib-express',
  'lib-http',
  'lib-http-window5',
  'lib-http-metrics',
  'lib-fallback',
];

/** The order of the standard set: raw baseline first (ratios are taken against it). */
export const STANDARD = [
  'raw',
  'raw-socket',
  'raw-express',
  'sse-channel',
  'better-sse',
  'express-sse',
  'original',
  'fanout',
  ...LIBRARY_SUBJECTS,
];
