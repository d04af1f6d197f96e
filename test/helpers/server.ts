import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestServer {
  server: http.Server;
  port: number;
  url: (path: string) => string;
  close: () => Promise<void>;
}

/** Start an HTTP server on a free 127.0.0.1 port. `close()` also drops open streams. */
export async function startServer(listener: http.RequestListener): Promise<TestServer> {
  const server = http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
