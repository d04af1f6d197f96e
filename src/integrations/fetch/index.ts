// express-eventstream/fetch: the web-standard `Request → Response` handler for Bun.serve,
// Deno.serve, Hono, Next.js route handlers and other Fetch-API servers. It re-exports the core's
// own `fetchHandler` (and `streamFetchHandler`, for response streams) by package name (one copy of the core's classes, as for the other subpaths);
// nothing on this path imports node:http, node:http2, node:net or express
// (test/runtimes/fetch-imports.test.ts checks the built files).
export {
  type FetchEventStreamHandler,
  fetchHandler,
  type HandlerOptions,
  type StreamHandlerOptions,
  streamFetchHandler,
} from 'express-eventstream';
