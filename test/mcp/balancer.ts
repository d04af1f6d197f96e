// A small TCP balancer in front of MCP server processes: each new connection goes to the first
// backend that accepts it (sticky while it lives, failover when it dies), as a balancer with
// health checks routes a session. `freeze()` stops handing the backends' bytes to clients, as a
// network that stopped delivering; `cutAll()` drops every connection.
import net from 'node:net';

export interface Balancer {
  readonly port: number;
  /** Which backend (index) each connection went to, in order. */
  readonly routed: number[];
  freeze(on: boolean): void;
  cutAll(): void;
  close(): Promise<void>;
}

export async function startBalancer(backends: readonly number[]): Promise<Balancer> {
  const sockets = new Set<net.Socket>();
  const routed: number[] = [];
  let frozen = false;

  const connect = (index: number, client: net.Socket, pending: Buffer[]) => {
    if (index >= backends.length) {
      client.destroy();
      return;
    }
    const upstream = net.connect(backends[index]!, '127.0.0.1');
    let connected = false;
    upstream.once('error', () => {
      // Refused (the backend is down): the next one gets the connection and what it sent so far.
      if (!connected) connect(index + 1, client, pending);
      else client.destroy();
    });
    upstream.once('connect', () => {
      connected = true;
      routed.push(index);
      sockets.add(upstream);
      for (const chunk of pending) upstream.write(chunk);
      pending.length = 0;
      client.removeAllListeners('data');
      client.on('data', (chunk: Buffer) => upstream.write(chunk));
      upstream.on('data', (chunk: Buffer) => {
        if (!frozen) client.write(chunk);
      });
      upstream.on('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      client.on('close', () => upstream.destroy());
    });
  };

  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    client.on('close', () => sockets.delete(client));
    const pending: Buffer[] = [];
    client.on('data', (chunk: Buffer) => pending.push(chunk));
    connect(0, client, pending);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    routed,
    freeze(on) {
      frozen = on;
    },
    cutAll() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
