// The response-stream endpoint as a Fetch handler (`Request → Response`): Bun.serve, Deno.serve,
// Hono, Next.js route handlers. The same answers as the node:http `streamHandler()`; the body is
// a ReadableStream pulled piece by piece, so a slow client holds back the reading, and the
// request's signal (the client left) stops it. Imports nothing Node-only.
import type { EventMap } from '../base/types.js';
import { fetchRequestView } from './fetch.js';
import { answerStreamRequest, resolveStreamOptions, type StreamHandlerOptions } from './stream-endpoint.js';

/**
 * A Fetch handler for `GET …/streams/:id` (read or resume a response stream) and
 * `POST …/streams/:id/stop` (stop its generation): `Bun.serve({ fetch: handler })`,
 * `Deno.serve(handler)`, `app.all('/streams/*', (c) => handler(c.req.raw))` in Hono, or
 * `export const GET = handler; export const POST = handler` in a Next.js route.
 */
export function streamFetchHandler<M extends object = EventMap, R extends Request = Request>(
  options: StreamHandlerOptions<M, R>,
): (request: R) => Promise<Response> {
  const resolved = resolveStreamOptions(options);
  const events = resolved.events;
  const report = (err: unknown) =>
    events.emit('error', err instanceof Error ? err : new Error(String(err)), {});
  return async function responseStreamFetchHandler(request: R): Promise<Response> {
    // The reading stops when the client leaves (the request's signal) or the body is cancelled.
    const left = new AbortController();
    const leave = () => left.abort();
    if (request.signal.aborted) leave();
    else request.signal.addEventListener('abort', leave, { once: true });
    let answer: Awaited<ReturnType<typeof answerStreamRequest>>;
    try {
      answer = await answerStreamRequest(resolved, request, fetchRequestView(request), left.signal);
    } catch (err) {
      request.signal.removeEventListener('abort', leave);
      report(err);
      return new Response('Service Unavailable: the stream could not be read', {
        status: 503,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
      });
    }
    if (answer.kind === 'complete') {
      request.signal.removeEventListener('abort', leave);
      return new Response(answer.status === 204 ? null : answer.body, {
        status: answer.status,
        headers: answer.headers,
      });
    }
    const iterator = answer.pieces[Symbol.asyncIterator]();
    const encoder = new TextEncoder();
    const finish = () => request.signal.removeEventListener('abort', leave);
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await iterator.next();
          if (next.done) {
            finish();
            controller.close();
          } else controller.enqueue(encoder.encode(next.value));
        } catch (err) {
          finish();
          report(err);
          controller.error(err);
        }
      },
      async cancel() {
        finish();
        leave();
        await iterator.return?.();
      },
    });
    return new Response(body, { status: 200, headers: answer.headers });
  };
}
