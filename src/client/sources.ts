// Where the client's events come from: the browser's EventSource, or fetch with a ReadableStream
// body parsed by the same rules. Both report through one callback, so the client handles
// `stream-open`, resets, errors and reconnection the same way whichever transport is used.
import { sseParser } from './parser.js';
import type { EventSourceConstructor, FetchLike, RequestHeaders } from './types.js';

/**
 * What a source reports: an event (`own`: it carried an `id` field; `channel`: its `channel`
 * field, on a shared stream), or ERROR: without `status` the source reconnects by itself; with
 * one (0: unknown) it gave up, and the client decides.
 */
export type Emit = (
  name: string,
  data: string,
  id: string,
  status?: number,
  own?: boolean,
  channel?: string,
) => void;

/** Internal names start with `_`: the build shortens them (tsup.config.ts). */
export interface Source {
  _close(): void;
  /** EventSource only: it reports an event name only when asked to. */
  _listen?(name: string): void;
}

export type Opener = (url: string, emit: Emit) => Source;

/** The name of a connection error: no event name holds a line break. */
export const ERROR = '\n';

/** Longest refusal body handed to `onError` (the rest is read and dropped). */
const BODY_CAP = 1024;

export const eventSourceOpener =
  (Impl: EventSourceConstructor, withCredentials: boolean): Opener =>
  (url, emit) => {
    const es = new Impl(url, { withCredentials });
    const listen = (name: string): void =>
      es.addEventListener(name === ERROR ? 'error' : name, (m) =>
        emit(name, `${m.data ?? ''}`, m.lastEventId, es.readyState === 2 ? 0 : undefined),
      );
    for (const name of ['stream-open', 'stream-error', 'stream-reset', ERROR]) listen(name);
    return { _close: () => es.close(), _listen: listen };
  };

export const fetchOpener =
  (
    fetchImpl: FetchLike,
    headers: RequestHeaders | (() => RequestHeaders | Promise<RequestHeaders>) | undefined,
    credentials: 'omit' | 'same-origin' | 'include',
  ): Opener =>
  (url, emit) => {
    // As EventSource: 3 s until the server's `retry:` says otherwise.
    let retry = 3000;
    let lastId = '';
    let timer: ReturnType<typeof setTimeout> | undefined;
    let abort: AbortController;
    const connect = async (): Promise<void> => {
      abort = new AbortController();
      const { signal } = abort;
      try {
        const init: RequestHeaders = {
          accept: 'text/event-stream',
          ...(typeof headers === 'function' ? await headers() : headers),
          ...(lastId && { 'last-event-id': lastId }),
        };
        const res = await fetchImpl(url, { headers: init, credentials, signal, cache: 'no-store' });
        const body =
          res.status === 200 &&
          // No header tests as "null".
          /^text\/event-stream/i.test(res.headers.get('content-type') as string) &&
          res.body;
        if (!body) {
          const text = (await res.text().catch(() => '')).slice(0, BODY_CAP);
          if (!signal.aborted) emit(ERROR, text, lastId, res.status);
          return;
        }
        const feed = sseParser(
          (type, data, id, own, channel) => {
            lastId = id;
            emit(type, data, id, undefined, own, channel);
          },
          (ms) => {
            retry = ms;
          },
          lastId,
        );
        const reader = body.getReader();
        const decoder = new TextDecoder();
        for (let r = await reader.read(); !r.done; r = await reader.read())
          feed(decoder.decode(r.value, { stream: true }));
      } catch {
        // A network error, a failing `headers` function, or close(): told apart below.
      }
      if (signal.aborted) return;
      emit(ERROR, '', lastId);
      timer = setTimeout(connect, retry);
    };
    void connect();
    return {
      _close() {
        clearTimeout(timer);
        abort.abort();
      },
    };
  };
