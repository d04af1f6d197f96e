// The resume endpoint `DefaultChatTransport` reconnects to (`GET {api}/{chatId}/stream`: 204 when
// there is nothing to resume, else the answer's SSE) and the stop request a stop button sends
// (`DELETE {api}/{chatId}/stream`: 202, or 204 when nothing runs). As a node:http / Express
// handler and as a Fetch handler (Next.js route handlers, Hono, Bun).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ResponseStreamError } from 'express-eventstream';
import type { ChatResume, ResumableChats } from './chats.js';

/** Options of the chat stream handlers. */
export interface ChatStreamHandlerOptions<Req> {
  /** The chat id of a request. Default: the path segment before the last one (`…/:chatId/stream`). */
  chatId?: (request: Req) => string | undefined;
  /** Return false to deny resuming or stopping chat `chatId` (403). */
  authorize?: (request: Req, chatId: string, action: 'read' | 'stop') => boolean | Promise<boolean>;
}

/** The same headers the SDK sends with a UI-message stream. */
const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  'x-vercel-ai-ui-message-stream': 'v1',
  'x-accel-buffering': 'no',
};

type Answer = ChatResume | { status: 202 | 400 | 403 | 404 | 405; body: string };

async function answer<Req>(
  chats: ResumableChats,
  options: ChatStreamHandlerOptions<Req>,
  request: Req,
  method: string,
  path: string,
  view: { lastEventId: string | undefined; signal: AbortSignal },
): Promise<Answer> {
  if (method !== 'GET' && method !== 'DELETE')
    return { status: 405, body: 'Method Not Allowed: GET or DELETE' };
  const chatId = options.chatId ? options.chatId(request) : segmentBeforeLast(path);
  if (chatId === undefined) return { status: 404, body: 'Not Found: no chat id in the path' };
  const action = method === 'GET' ? 'read' : 'stop';
  if (options.authorize && !(await options.authorize(request, chatId, action))) {
    return { status: 403, body: `Forbidden: chat ${JSON.stringify(chatId)}` };
  }
  try {
    if (action === 'stop')
      return (await chats.stop(chatId)) ? { status: 202, body: 'Accepted: stopping' } : { status: 204 };
    return await chats.resume(chatId, view);
  } catch (err) {
    if (err instanceof ResponseStreamError && err.problem === 'invalid-id') {
      return { status: 400, body: `Bad Request: ${err.message}` };
    }
    throw err;
  }
}

/** A `(req, res)` handler, e.g. `app.all('/api/chat/:id/stream', chatStreamHandler(chats))`. */
export function chatStreamHandler<Req extends IncomingMessage = IncomingMessage>(
  chats: ResumableChats,
  options: ChatStreamHandlerOptions<Req> = {},
): (req: Req, res: ServerResponse) => void {
  return (req, res) => {
    const left = new AbortController();
    res.on('close', () => left.abort());
    const lastEventId = header(req.headers['last-event-id']);
    answer(chats, options, req, req.method ?? 'GET', req.url ?? '/', { lastEventId, signal: left.signal })
      .then(async (out) => {
        if (res.destroyed) return;
        if (out.status !== 200) {
          const body = 'body' in out ? out.body : '';
          res.writeHead(out.status, body ? { 'content-type': 'text/plain; charset=utf-8' } : {});
          res.end(body);
          return;
        }
        res.writeHead(200, SSE_HEADERS);
        res.flushHeaders();
        for await (const text of out.body) {
          if (res.destroyed) break;
          if (!res.write(text))
            await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
        }
        if (!res.destroyed) res.end();
      })
      .catch((err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('Service Unavailable: the chat stream could not be read');
        } else res.destroy();
        chats.reportError(err);
      });
  };
}

/** A Fetch handler `(request) => Response`, e.g. a Next.js route handler's `GET` and `DELETE`. */
export function chatStreamFetchHandler<Req extends Request = Request>(
  chats: ResumableChats,
  options: ChatStreamHandlerOptions<Req> = {},
): (request: Req) => Promise<Response> {
  return async (request) => {
    const path = new URL(request.url).pathname;
    const view = { lastEventId: request.headers.get('last-event-id') ?? undefined, signal: request.signal };
    let out: Answer;
    try {
      out = await answer(chats, options, request, request.method, path, view);
    } catch (err) {
      chats.reportError(err);
      return new Response('Service Unavailable: the chat stream could not be read', { status: 503 });
    }
    if (out.status !== 200) return new Response('body' in out ? out.body : null, { status: out.status });
    const iterator = out.body[Symbol.asyncIterator]();
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await iterator.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(next.value));
      },
      async cancel() {
        await iterator.return?.();
      },
    });
    return new Response(body, { status: 200, headers: SSE_HEADERS });
  };
}

function segmentBeforeLast(path: string): string | undefined {
  const segments = (path.split('?')[0] ?? '').split('/').filter((s) => s !== '');
  const segment = segments.at(-2);
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
