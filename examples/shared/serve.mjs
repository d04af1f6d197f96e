// What every example needs besides its own logic: serve the browser client and a public/ folder,
// listen on 127.0.0.1 with a port from the environment, print the URL, and shut down cleanly.
// Only the public API of express-eventstream is used; the browser client is the built
// dist/client/index.js (what `import ... from 'express-eventstream/client'` gives a bundler).
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import express from 'express';

const CLIENT_FILE = fileURLToPath(new URL('../../dist/client/index.js', import.meta.url));
const SHARED_PUBLIC = fileURLToPath(new URL('./public/', import.meta.url));

/** The pages load their scripts from this server only; all text is inserted with textContent. */
const CSP = "default-src 'self'; object-src 'none'; base-uri 'none'";

/**
 * A new Express app with the browser client at /client.js, the examples' common style sheet at
 * /shared/, and `publicDir` as static files.
 */
export function createExampleApp(publicDir) {
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.set('X-Content-Type-Options', 'nosniff');
    next();
  });
  const staticOptions = {
    setHeaders(res) {
      res.set('Content-Security-Policy', CSP);
    },
  };
  app.get('/client.js', (_req, res) => {
    res.set('Content-Security-Policy', CSP);
    res.type('text/javascript').sendFile(CLIENT_FILE);
  });
  app.use('/shared', express.static(SHARED_PUBLIC, staticOptions));
  app.use(express.static(publicDir, staticOptions));
  return app;
}

/** Reads an integer from the environment, exiting with a message when it is not one. */
export function intFromEnv(name, fallback, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    process.exit(1);
  }
  return value;
}

/**
 * Listens on HOST (default 127.0.0.1) and PORT (default `defaultPort`; 0 picks a free one), prints
 * "<name> listening on <url>" (tests read that line), and on SIGINT/SIGTERM runs `onClose()`
 * (which should close the Events object, ending the open streams) and closes the server.
 */
export async function runExample(app, { name, defaultPort, onClose = async () => {} }) {
  const port = intFromEnv('PORT', defaultPort, { max: 65535 });
  const host = process.env.HOST || '127.0.0.1';
  const server = createServer(app);
  try {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
  } catch (err) {
    console.error(`could not start the ${name}: ${err.message} (set PORT to choose another port)`);
    process.exit(1);
  }
  const address = server.address();
  const shownHost = host.includes(':') ? `[${host}]` : host;
  console.log(`express-eventstream ${name} listening on http://${shownHost}:${address.port}/`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    const closed = new Promise((resolve) => server.close(resolve));
    await onClose();
    server.closeIdleConnections();
    await closed;
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return server;
}
