// Serving a registry's text exposition: as a node:http / Express listener, and as a Fetch-style
// handler (`(request) => Promise<Response>`: Bun, Deno, Hono, Next.js route handlers, the core's
// Fetch handler), which needs nothing but the web Request/Response globals.
import type { HttpRequest, HttpResponse } from 'express-eventstream';
import type { Registry } from 'prom-client';

const TEXT = 'text/plain; charset=utf-8';
const ALLOW = 'GET, HEAD';

/** How a scrape is answered: status, headers, and the body (none for HEAD and refusals' text). */
async function answer(
  registry: Registry,
  method: string,
): Promise<{ status: number; headers: Record<string, string>; body: string | undefined }> {
  if (method !== 'GET' && method !== 'HEAD') {
    return { status: 405, headers: { 'Content-Type': TEXT, Allow: ALLOW }, body: 'method not allowed\n' };
  }
  let text: string;
  try {
    text = await registry.metrics();
  } catch {
    // A failing collect() elsewhere in the registry: answer, never crash.
    return { status: 500, headers: { 'Content-Type': TEXT }, body: 'metrics collection failed\n' };
  }
  return {
    status: 200,
    headers: { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' },
    body: method === 'HEAD' ? undefined : text,
  };
}

/** A `(req, res)` listener answering GET and HEAD with the exposition (405 otherwise). */
export function nodeResponder(registry: Registry): (req: HttpRequest, res: HttpResponse) => void {
  return (req, res) => {
    void answer(registry, req.method ?? 'GET').then(({ status, headers, body }) => {
      if (res.headersSent) return;
      res.writeHead(status, headers);
      if (body === undefined) res.end();
      else res.end(body);
    });
  };
}

/**
 * A Fetch-style handler: `(request?) => Promise<Response>` with the exposition for GET and HEAD
 * (405 otherwise). Without a request it answers as for a GET.
 */
export function fetchResponder(registry: Registry): (request?: Request) => Promise<Response> {
  return async (request) => {
    const { status, headers, body } = await answer(registry, request?.method ?? 'GET');
    return new Response(body ?? null, { status, headers });
  };
}
