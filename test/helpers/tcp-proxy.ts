// A TCP proxy for fault tests between the library and a real service (Redis, a proxy, an
// origin): it forwards bytes both ways on a free 127.0.0.1 port, and on request refuses new
// connections or applies a one-shot fault to the next client chunk that matches:
//   'cut-after-reply'  forward the request; when the service's reply arrives, drop it and cut the
//                      connection (the service ran the command, the client never hears back)
//   'cut-before'       drop the request and cut the connection (the service never saw it)
//   'hold'             like 'cut-before', but keep the request: `sendLater()` delivers it to the
//                      service on a fresh connection, as a packet stuck in the network would
//   'delay'            forward the request, deliver what the service answers `ms` later
//   { cutAfterBytes }  forward only the first n bytes of the request, then cut
// `replyDelayMs` hands every reply back that much later (in order), so every command through the
// proxy is in flight at least that long.
import net from 'node:net';

export type Fault =
  | { kind: 'cut-after-reply' }
  | { kind: 'cut-before' }
  | { kind: 'hold' }
  | { kind: 'delay'; ms: number }
  | { kind: 'cut-after-bytes'; bytes: number };

/** What a fault did, once it happened. */
export interface FaultReport {
  /** The request chunk the fault applied to. */
  readonly request: Buffer;
}

export interface TcpProxy {
  readonly port: number;
  /** `127.0.0.1:<port>` */
  readonly address: string;
  /** Connections accepted so far, and those closed at once while refusing. */
  readonly stats: { accepted: number; refused: number };
  /** While on, every new connection is closed as soon as it is accepted. */
  refuse(on: boolean): void;
  /**
   * Apply `fault` to the next client chunk for which `match` holds; resolves once it happened.
   * One fault is armed at a time.
   */
  fault(match: (chunk: Buffer) => boolean, fault: Fault): Promise<FaultReport>;
  /** Send bytes to the service on a fresh connection; resolves with its first reply chunk. */
  sendLater(bytes: Buffer): Promise<Buffer>;
  /** Cut every open connection now (both sides); resolves with how many client connections it cut. */
  cutAll(): number;
  close(): Promise<void>;
}

interface Armed {
  match: (chunk: Buffer) => boolean;
  fault: Fault;
  done: (report: FaultReport) => void;
}

/** A chunk matcher: the chunk contains `text` (latin1, so binary protocols work too). */
export const containing =
  (text: string) =>
  (chunk: Buffer): boolean =>
    chunk.toString('latin1').includes(text);

export async function startTcpProxy(target: {
  host?: string;
  port: number;
  replyDelayMs?: number;
}): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  const stats = { accepted: 0, refused: 0 };
  const sockets = new Set<net.Socket>();
  let refusing = false;
  let armed: Armed | undefined;

  const server = net.createServer((client) => {
    if (refusing) {
      stats.refused++;
      client.destroy();
      return;
    }
    stats.accepted++;
    const upstream = net.connect(target.port, host);
    sockets.add(client);
    sockets.add(upstream);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on('error', () => {});
    upstream.on('error', () => {});
    // What happens to the service's next reply: forwarded, dropped with a cut, or delayed.
    let onReply: ((chunk: Buffer) => void) | undefined;
    upstream.on('data', (chunk: Buffer) => {
      if (onReply !== undefined) onReply(chunk);
      else if (target.replyDelayMs === undefined) client.write(chunk);
      else
        setTimeout(() => {
          if (!client.destroyed) client.write(chunk);
        }, target.replyDelayMs);
    });
    client.on('data', (chunk: Buffer) => {
      const fault = armed?.match(chunk) ? armed : undefined;
      if (fault === undefined) {
        upstream.write(chunk);
        return;
      }
      armed = undefined;
      const report = { request: Buffer.from(chunk) };
      switch (fault.fault.kind) {
        case 'cut-after-reply':
          upstream.write(chunk);
          onReply = () => {
            cut();
            fault.done(report);
          };
          return;
        case 'cut-before':
        case 'hold':
          cut();
          fault.done(report);
          return;
        case 'cut-after-bytes':
          upstream.write(chunk.subarray(0, fault.fault.bytes), () => {
            cut();
            fault.done(report);
          });
          return;
        case 'delay': {
          // Replies are held (in order) for `ms` after the request went on, then delivered.
          upstream.write(chunk);
          const held: Buffer[] = [];
          onReply = (reply) => held.push(reply);
          setTimeout(() => {
            onReply = undefined;
            for (const reply of held) if (!client.destroyed) client.write(reply);
            fault.done(report);
          }, fault.fault.ms);
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    address: `127.0.0.1:${port}`,
    stats,
    refuse(on) {
      refusing = on;
    },
    fault(match, fault) {
      return new Promise<FaultReport>((done) => {
        armed = { match, fault, done };
      });
    },
    sendLater(bytes) {
      return new Promise<Buffer>((resolve, reject) => {
        const socket = net.connect(target.port, host, () => socket.write(bytes));
        socket.once('data', (chunk: Buffer) => {
          socket.destroy();
          resolve(chunk);
        });
        socket.once('error', reject);
      });
    },
    cutAll() {
      let cut = 0;
      for (const s of sockets) {
        // Client sides are the sockets accepted on the proxy's own port.
        if (s.localPort === port) cut++;
        s.destroy();
      }
      return cut;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
