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
  /** Resolves when the client has received `total`. */
  readonly done: Promise<void>;
}

export function chaosClient(url: string, total: number, maxEventsPerConnection: number): ChaosClient {
  const client: ChaosClient = { received: [], cuts: 0, resets: 0, connected: false, done: Promise.resolve() };
  let position: string | undefined;
  const finished = () => client.received.at(-1) === total;

  const connectOnce = () =>
    new Promise<void>((resolve) => {
      const budget = 1 + Math.floor(Math.random() * maxEventsPerConnection);
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (position !== undefined) headers['last-event-id'] = position;
      let seen = 0;
      let buffer = '';
      const req = http.get(url, { headers, agent: false }, (res) => {
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
      });
      req.on('error', () => resolve());
    });

  (client as { done: Promise<void> }).done = (async () => {
    while (!finished()) await connectOnce();
  })();
  return client;
}
