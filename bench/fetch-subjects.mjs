// Issue 12 subjects: web-standard `Request → Response` handlers on Node, Bun and Deno, and the
// SSE helpers users of those stacks pick (Hono's streamSSE, better-sse's Fetch adapter,
// @fastify/sse). `npm run bench -- --fetch` runs FETCH_PRESET (see run.mjs).
//
// A Fetch subject builds `fetch(request) → Response` instead of a node:http listener; server.mjs
// serves it on the runtime it runs under: Bun.serve on Bun, Deno.serve on Deno, and on Node through
// @hono/node-server's getRequestListener (the node:http → Request/Response bridge that Hono users
// get from its `serve()`, already a devDependency of the runtime tests). `runtime` tells run.mjs
// which binary starts server.mjs. The same build runs on each runtime, so each subject exists as
// `<name>-node`, `<name>-bun` and `<name>-deno`.

import { CHANNEL } from './subjects.mjs';

const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' };
const lib = { keepAlive: false, maxBufferBytes: 1 << 20 }; // as lib-subjects.mjs

/** @typedef {'node' | 'bun' | 'deno'} Runtime */
/** @typedef {{ fetch?: (request: Request) => Response | Promise<Response>, listener?: import('node:http').RequestListener, publish: (data: object) => unknown, subscribers: () => number }} FetchBuilt */
/** @typedef {{ label: string, framework: string, runtime: Runtime, pkg?: string, extraPkgs?: string[], note?: string, library?: boolean, build: () => Promise<FetchBuilt> }} FetchDef */

const SERVED_BY = {
  node: '@hono/node-server',
  bun: '`Bun.serve`',
  deno: '`Deno.serve`',
};
const RUNTIME_NAME = { node: 'Node', bun: 'Bun', deno: 'Deno' };

/** Fetch apps: each becomes one subject per runtime in `runtimes`. */
const APPS = {
  'raw-fetch': {
    label: 'raw `ReadableStream` baseline',
    framework: 'Fetch',
    note: 'one `ReadableStream` per client; each event encoded once, `controller.enqueue(bytes)` per subscriber: what the runtime’s Fetch path costs with no library',
    runtimes: ['node', 'bun', 'deno'],
    build: async () => {
      /** @type {Set<ReadableStreamDefaultController<Uint8Array>>} */
      const clients = new Set();
      const enc = new TextEncoder();
      const ok = enc.encode(':ok\n\n');
      return {
        fetch(request) {
          /** @type {ReadableStreamDefaultController<Uint8Array>} */
          let ctl;
          const drop = () => clients.delete(ctl);
          const body = new ReadableStream({
            start(c) {
              ctl = c;
              c.enqueue(ok);
              clients.add(c);
            },
            cancel: drop,
          });
          request.signal.addEventListener('abort', drop, { once: true });
          return new Response(body, { headers: SSE_HEADERS });
        },
        publish(data) {
          const bytes = enc.encode(`event: tick\ndata: ${JSON.stringify(data)}\n\n`);
          for (const c of clients) c.enqueue(bytes);
        },
        subscribers: () => clients.size,
      };
    },
  },

  'lib-fetch': {
    label: 'express-eventstream (this) — `fetchHandler`',
    framework: 'Fetch',
    library: true,
    pkg: 'express-eventstream',
    runtimes: ['node', 'bun', 'deno'],
    build: async () => {
      const fetchEntry = await import('express-eventstream/fetch');
      const events = fetchEntry.events ?? (await import('express-eventstream')).events;
      const ev = events(lib);
      const handler = fetchEntry.fetchHandler({ events: ev });
      return {
        fetch: handler,
        publish: (data) => ev.publish(CHANNEL, { event: 'tick', data }),
        subscribers: () => ev.stats().connections,
      };
    },
  },

  hono: {
    label: 'Hono `streamSSE`',
    pkg: 'hono',
    framework: 'Hono 4',
    note: 'a Hono app whose route holds a `streamSSE` stream open (a `:ok` comment first, so the head goes out at once) until `onAbort`; publish calls `writeSSE` on every stream with the data stringified once',
    runtimes: ['node', 'bun', 'deno'],
    build: async () => {
      const { Hono } = await import('hono');
      const { streamSSE } = await import('hono/streaming');
      /** @type {Set<import('hono/streaming').SSEStreamingApi>} */
      const streams = new Set();
      const app = new Hono();
      app.get('/events', (c) =>
        streamSSE(c, async (stream) => {
          streams.add(stream);
          await stream.write(':ok\n\n');
          await new Promise((resolve) => stream.onAbort(() => resolve(undefined)));
          streams.delete(stream);
        }),
      );
      return {
        fetch: app.fetch,
        publish(data) {
          const json = JSON.stringify(data);
          for (const s of streams) s.writeSSE({ event: 'tick', data: json });
        },
        subscribers: () => streams.size,
      };
    },
  },

  'better-sse-fetch': {
    label: 'better-sse — Fetch (`createResponse`)',
    pkg: 'better-sse',
    framework: 'Fetch',
    note: '`createResponse(request, { keepAlive: null }, (s) => channel.register(s))`, `channel.broadcast(data, "tick")`; the default initial `retry:` field is kept (with `retry: null` nothing is written before the first event, and Bun.serve sends no response head until then)',
    runtimes: ['node', 'bun', 'deno'],
    build: async () => {
      const { createChannel, createResponse } = await import('better-sse');
      const channel = createChannel();
      return {
        fetch: (request) =>
          createResponse(request, { keepAlive: null }, (session) => {
            channel.register(session);
          }),
        publish(data) {
          channel.broadcast(data, 'tick');
        },
        subscribers: () => channel.sessionCount,
      };
    },
  },
};

/** @type {Record<string, FetchDef>} */
export const FETCH_SUBJECTS = {};
for (const [name, app] of Object.entries(APPS)) {
  for (const runtime of /** @type {Runtime[]} */ (app.runtimes)) {
    FETCH_SUBJECTS[`${name}-${runtime}`] = {
      label: `${app.label} on ${RUNTIME_NAME[runtime]}`,
      framework: `${app.framework} · ${SERVED_BY[runtime]}`,
      runtime,
      ...(app.pkg && { pkg: app.pkg }),
      ...(app.note && { note: app.note }),
      ...(app.library && { library: true }),
      ...(runtime === 'node' && { extraPkgs: ['@hono/node-server'] }),
      build: app.build,
    };
  }
}

FETCH_SUBJECTS['fastify-sse'] = {
  label: '@fastify/sse',
  pkg: '@fastify/sse',
  framework: 'Fastify 5',
  runtime: 'node',
  extraPkgs: ['fastify'],
  note: 'route `{ sse: { kind: "only", heartbeat: false } }`: `reply.sse.keepAlive()`, head and a `:ok` comment sent at once; publish calls `reply.sse.send({ event, data })` on every open reply (the plugin serializes the data per reply); Fastify’s own request handler (taken through `serverFactory`) is mounted on the bench’s node:http server, logger off',
  build: async () => {
    const http = await import('node:http');
    const { default: Fastify } = await import('fastify');
    const { default: fastifySse } = await import('@fastify/sse');
    /** @type {import('node:http').RequestListener | undefined} */
    let handler;
    const app = Fastify({
      logger: false,
      serverFactory: (h) => {
        handler = h;
        return http.createServer(); // never listens: server.mjs serves `handler`
      },
    });
    await app.register(fastifySse, { heartbeatInterval: 0 });
    /** @type {Set<any>} */
    const replies = new Set();
    app.get('/events', { sse: { kind: 'only', heartbeat: false } }, async (_request, reply) => {
      const sse = reply.sse;
      sse.keepAlive();
      sse.sendHeaders();
      reply.raw.write(':ok\n\n');
      replies.add(sse);
      sse.onClose(() => replies.delete(sse));
    });
    await app.ready();
    if (!handler) throw new Error('fastify did not call serverFactory');
    return {
      listener: handler,
      publish(data) {
        for (const sse of replies) sse.send({ event: 'tick', data }).catch(() => {});
      },
      subscribers: () => replies.size,
    };
  },
};

/** `npm run bench -- --fetch`: the node:http entry point and its baseline beside the Fetch paths and peers. */
export const FETCH_PRESET = [
  'raw',
  'lib-http',
  'raw-fetch-node',
  'lib-fetch-node',
  'raw-fetch-bun',
  'lib-fetch-bun',
  'raw-fetch-deno',
  'lib-fetch-deno',
  'hono-node',
  'hono-bun',
  'better-sse-fetch-node',
  'fastify-sse',
];
