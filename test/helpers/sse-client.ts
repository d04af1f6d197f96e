// A real SSE client for tests: raw node:http plus eventsource-parser, with condition waits.
import http from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

export interface SseClient {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: SseEvent[];
  /** Raw body text received so far. */
  body: string;
  /** `retry:` values seen. */
  retries: number[];
  ended: boolean;
  /** Resolves once `predicate` holds (checked on every chunk), rejects after `timeoutMs`. */
  waitFor(predicate: (c: SseClient) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Events of one type, e.g. `named('time')`. */
  named(event: string): SseEvent[];
  close(): void;
  /** Stop reading from the socket (a slow client). */
  pause(): void;
  /** Read again after `pause()`. */
  resume(): void;
}

export function connect(
  url: string,
  headers: Record<string, string> = { accept: 'text/event-stream' },
): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      const waiters = new Set<() => void>();
      const notify = () => {
        for (const w of [...waiters]) w();
      };
      const client: SseClient = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events: [],
        body: '',
        retries: [],
        ended: false,
        named: (event) => client.events.filter((e) => e.event === event),
        waitFor(predicate, timeoutMs = 5000, what = 'condition') {
          if (predicate(client)) return Promise.resolve();
          return new Promise<void>((ok, fail) => {
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(
                new Error(
                  `timed out after ${timeoutMs} ms waiting for ${what}; got ${client.events.length} events`,
                ),
              );
            }, timeoutMs);
            const check = () => {
              if (predicate(client)) {
                clearTimeout(timer);
                waiters.delete(check);
                ok();
              } else if (client.ended) {
                clearTimeout(timer);
                waiters.delete(check);
                fail(new Error(`stream ended while waiting for ${what}`));
              }
            };
            waiters.add(check);
          });
        },
        close: () => {
          req.destroy();
        },
        pause: () => {
          res.pause();
        },
        resume: () => {
          res.resume();
        },
      };
      const parser = createParser({
        onEvent: (m: EventSourceMessage) => {
          client.events.push({ event: m.event ?? 'message', data: m.data, id: m.id });
        },
        onRetry: (ms) => client.retries.push(ms),
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        client.body += chunk;
        parser.feed(chunk);
        notify();
      });
      res.on('end', () => {
        client.ended = true;
        notify();
      });
      res.on('error', () => {
        client.ended = true;
        notify();
      });
      resolve(client);
    });
    req.on('error', reject);
  });
}

/** A plain request; resolves with status, headers and the whole body. */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * Resolve when `predicate` returns (or resolves to) true, polling it one call at a time; reject after
 * `timeoutMs`, also when a pending asynchronous call never settles. A synchronous predicate is polled
 * every 5 ms, an asynchronous one (a page read, an HTTP request, a store query) every 20 ms after it
 * settles. `what` names the condition in the timeout error; a function is called then, so the error can
 * show the last state seen. An error thrown or rejected by the predicate rejects at once.
 */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what: string | (() => string) = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const timedOut = () =>
    new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
  for (;;) {
    const result = predicate();
    const asynchronous = typeof result !== 'boolean';
    if (asynchronous ? await settledBefore(result, deadline, timedOut) : result) return;
    if (Date.now() > deadline) throw timedOut();
    await new Promise((r) => setTimeout(r, asynchronous ? 20 : 5));
  }
}

/** `pending`'s value, or the timeout error once `deadline` passes first (the timer is always cleared). */
async function settledBefore<T>(pending: Promise<T>, deadline: number, timedOut: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([pending, late]);
  } finally {
    clearTimeout(timer);
  }
}
