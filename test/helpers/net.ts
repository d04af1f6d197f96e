// Loopback ports for fault tests (a TCP proxy with faults: tcp-proxy.ts).
import { once } from 'node:events';
import net from 'node:net';

/** A loopback port with nothing listening on it: connecting is refused (ECONNREFUSED). */
export async function deadPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
