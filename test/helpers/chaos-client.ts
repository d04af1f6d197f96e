// A client that keeps reconnecting with Last-Event-ID, cutting each connection after a random
// number of events, until it has received the event whose data is `total`.
import http from 'node:http';

export interface ChaosClient {
  /** The data of every `event: n` received, in order, across all connections. */
  readonly received: number[];
  /** Connections this client cut. */
  cuts: number;
  /** `stream-reset` events seen. */
  resets: number;
  /** True once the first connection's `stream-open` arrived. */
  connected: boolean;
  /** Connections per `X-Origin` response header value (when the server sends one). */
  readonly servedBy: Record<string, number>;
  /** Resolves when the client has received `total`. */
  readonly done: Promise<void>;
}

/**
 * `url` may be a function, called for each connection (e.g. to pick a random process). `headers`,
 * when given, is called for each connection and its headers are added to the request (e.g. a
 * `host` that a proxy routes to a randomly chosen origin).
 */
export function chaosClient(
  url: string | (() => string),
  total: number,
  maxEventsPerConnection: number,
  options: { headers?: () => Record<string, string> } = {},
): ChaosClient {
  const client: ChaosClient = {
    received: [],
    cuts: 0,
    resets: 0,
    connected: false,
    servedBy: {},
    done: Promise.resolve(),
  };
  let position: string | undefined;
  const finished = () => client.received.at(-1) === total;

  const connectOnce = () =>
    new Promise<void>((resolve) => {
      const budget = 1 + Math.floor(Math.random() * maxEventsPerConnection);
      const headers: Record<string, string> = { accept: 'text/event-stream', ...options.headers?.() };
      if (position !== undefined) headers['last-event-id'] = position;
      let seen = 0;
      let buffer = '';
      const req = http.get(typeof url === 'function' ? url() : url, { headers, agent: false }, (res) => {
        const origin = res.headers['x-origin'];
        if (typeof origin === 'string') client.servedBy[origin] = (client.servedBy[origin] ?? 0) + 1;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end = buffer.indexOf('\n\n');
          while (end !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            end = buffer.indexOf('\n\n');
            const id = /^id: (.*)$/m.exec(block)?.[1];
            if (id !== undefined) position = id;
            if (block.includes('event: stream-open')) client.connected = true;
            if (block.includes('event: stream-reset')) client.resets++;
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (block.includes('event: n') && data !== undefined) {
              client.received.push(Number(data));
              seen++;
              // Cut mid-stream: whatever is already buffered after this event is thrown away.
              if (seen >= budget || finished()) {
                client.cuts++;
                req.destroy();
                resolve();
                return;
              }
            }
          }
        });
        res.on('end', resolve);
        res.on('error', () => resolve());
        // The server process killed mid-stream: the response closes without 'end'.
        res.on('close', () => resolve());
      });
      req.on('error', () => resolve());
    });

  (client as { done: Promise<void> }).done = (async () => {
    while (!finished()) await connectOnce();
  })();
  return client;
}
