// The basic demo as a module: an Express app that streams a `clock` channel and a `messages`
// channel over Server-Sent Events, using only the public API of express-eventstream.
// `server.mjs` runs it from the command line; tests import or spawn it.
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { events as createEvents, express as eventstream } from 'express-eventstream';

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** Longest accepted request body for POST /messages/. */
export const MAX_BODY = '4kb';
/** Longest accepted message text, in characters (after trimming). */
export const MAX_MESSAGE_LENGTH = 500;

/**
 * An object-mode Readable of `time` events: one at once, then one at every whole second
 * (or every `intervalMs`). Pipe it into `events.channel('clock')`.
 */
export function clockStream({ intervalMs = 1000 } = {}) {
  let timer;
  let first = true;
  const tick = () => ({ event: 'time', data: { value: new Date().toISOString() } });
  return new Readable({
    objectMode: true,
    read() {
      if (first) {
        first = false;
        this.push(tick());
        return;
      }
      if (timer !== undefined) return;
      // Land on the next whole interval so the ticks stay evenly spaced even if one is late.
      const delay = intervalMs - (Date.now() % intervalMs);
      timer = setTimeout(() => {
        timer = undefined;
        this.push(tick());
      }, delay);
    },
    destroy(err, callback) {
      clearTimeout(timer);
      callback(err);
    },
  });
}

/** Reads `{ text }` from a JSON body or the whole text/plain body; returns [text] or [undefined, problem]. */
function messageText(req) {
  const body = req.body;
  let text;
  if (typeof body === 'string') text = body;
  else if (body !== null && typeof body === 'object' && !Array.isArray(body)) text = body.text;
  else return [undefined, 'Send the message as JSON {"text": "..."} or as a text/plain body.'];
  if (typeof text !== 'string') return [undefined, 'The "text" field must be a string.'];
  text = text.trim();
  if (text.length === 0) return [undefined, 'The message text must not be empty.'];
  if (text.length > MAX_MESSAGE_LENGTH) {
    return [undefined, `The message text must be at most ${MAX_MESSAGE_LENGTH} characters.`];
  }
  return [text];
}

function sendText(res, status, text) {
  res.status(status).type('text/plain; charset=utf-8').send(`${text}\n`);
}

/**
 * Builds the demo app. Returns the Express app, the Events object and a `close()` that stops
 * the clock and closes the Events object (it does not own an HTTP server).
 */
export function createDemoApp({
  grip,
  history,
  bus,
  clock: withClock = true,
  clockIntervalMs = 1000,
  log = () => {},
} = {}) {
  const events = createEvents({
    grip,
    ...(history !== undefined && { history }),
    ...(bus !== undefined && { bus }),
  });
  events.on('error', (err) => log(`events error: ${err?.code ?? ''} ${err?.message ?? err}`));

  // The clock: an object-mode Readable piped into the channel's Writable. Behind a proxy with
  // several processes, only one of them should run it (`clock: false` for the others).
  const clock = withClock ? clockStream({ intervalMs: clockIntervalMs }) : undefined;
  const clockChannel = events.channel('clock');
  if (clock) {
    clock.on('error', (err) => log(`clock stream error: ${err.message}`));
    clockChannel.on('error', (err) => log(`clock channel error: ${err.code ?? ''} ${err.message}`));
    clock.pipe(clockChannel);
  }

  const app = express();
  app.disable('x-powered-by');

  app.use((req, res, next) => {
    log(`${req.method} ${req.originalUrl}`);
    res.set('X-Content-Type-Options', 'nosniff');
    next();
  });

  // The SSE endpoint: ?channel=clock&channel=messages
  app.get('/events/', eventstream({ events, grip }));

  app.post(
    '/messages/',
    express.json({ limit: MAX_BODY, strict: true }),
    express.text({ limit: MAX_BODY, type: 'text/plain' }),
    async (req, res) => {
      if (!req.is('application/json') && !req.is('text/plain')) {
        sendText(res, 415, 'Send the message as application/json {"text": "..."} or as text/plain.');
        return;
      }
      const [text, problem] = messageText(req);
      if (problem !== undefined) {
        sendText(res, 400, problem);
        return;
      }
      try {
        await events.publish('messages', { event: 'message', data: { text } });
      } catch (err) {
        log(`publish failed: ${err?.code ?? ''} ${err?.message ?? err}`);
        sendText(res, 503, 'The message could not be published; try again.');
        return;
      }
      sendText(res, 201, 'Published.');
    },
  );

  app.use(
    express.static(PUBLIC_DIR, {
      setHeaders(res) {
        // Defence in depth: the page inserts all data with textContent, and no inline script may run.
        res.set('Content-Security-Policy', "default-src 'self'; object-src 'none'; base-uri 'none'");
      },
    }),
  );

  // Errors from the body parsers (too large, malformed JSON, bad charset) as plain text.
  app.use((err, _req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const status = Number.isInteger(err?.status) && err.status >= 400 && err.status < 500 ? err.status : 500;
    let text = 'Internal server error.';
    if (err?.type === 'entity.too.large') text = `The request body is larger than ${MAX_BODY}.`;
    else if (err?.type === 'entity.parse.failed') text = 'The request body is not valid JSON.';
    else if (status < 500) text = err.message;
    else log(`error: ${err?.stack ?? err}`);
    sendText(res, status, text);
  });

  return {
    app,
    events,
    async close() {
      clock?.unpipe(clockChannel);
      clock?.destroy();
      await events.close();
    },
  };
}

/**
 * The shared history on Redis (`express-eventstream/redis`, needs `ioredis`): every process
 * started with the same `redisUrl` shares the ids and the events, so a browser resumes on any.
 * With `bus`, also the Redis bus: a browser connected straight to this process gets what every
 * process publishes. events.close() closes that bus, and the bus its store.
 */
async function redisEngine(redisUrl, bus) {
  const { redis, redisStore } = await import('express-eventstream/redis');
  if (bus) return { ...redis({ url: redisUrl, namespace: 'demo' }), closeHistory: false };
  return { history: redisStore({ url: redisUrl, namespace: 'demo' }), closeHistory: true };
}

/**
 * The shared history and bus on PostgreSQL (`express-eventstream/postgres`, needs `pg`): the same
 * as the Redis engine with its bus, on the database an application already has.
 */
async function postgresEngine(databaseUrl) {
  const { postgres } = await import('express-eventstream/postgres');
  return { ...postgres({ url: databaseUrl, namespace: 'demo' }), closeHistory: false };
}

/**
 * Starts the demo on `port` (0 picks a free one) at `host`. Resolves once listening, with the
 * bound `port`, the `url`, and `close()` which stops accepting connections, ends the open
 * streams (events.close()) and resolves when the server has closed. With `redisUrl` the history
 * lives in Redis (shared with every demo process on that Redis) instead of in this process; with
 * `redisBus` too, the processes on that Redis also share their events through the Redis bus.
 * With `databaseUrl` instead, history and bus are on PostgreSQL.
 */
export async function createDemoServer({
  port = 3000,
  host = '127.0.0.1',
  grip,
  redisUrl,
  redisBus = false,
  databaseUrl,
  clock,
  clockIntervalMs,
  log,
} = {}) {
  const engine = databaseUrl
    ? await postgresEngine(databaseUrl)
    : redisUrl
      ? await redisEngine(redisUrl, redisBus)
      : {};
  const { history, bus } = engine;
  const closeHistory = () => (engine.closeHistory ? history.close() : undefined);
  const demo = createDemoApp({ grip, history, bus, clock, clockIntervalMs, log });
  const server = createServer(demo.app);
  try {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await demo.close();
    await closeHistory();
    throw err;
  }
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  let closing;
  return {
    server,
    app: demo.app,
    events: demo.events,
    port: boundPort,
    url: `http://${shownHost}:${boundPort}/`,
    close() {
      closing ??= (async () => {
        const closed = new Promise((resolve) => server.close(() => resolve()));
        await demo.close();
        // Streams have ended; drop idle keep-alive sockets so close() does not wait for them.
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), 2000);
        await closed;
        clearTimeout(timer);
        await closeHistory();
      })();
      return closing;
    },
  };
}
