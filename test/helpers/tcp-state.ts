// The kernel's view of a loopback TCP connection, from /proc/net/tcp (Linux): its state and the
// bytes queued to send. For asserting what a server really did with a connection (closed it,
// reset it, or kept it with megabytes unsent), which no HTTP client can see.
import { readFileSync } from 'node:fs';

export interface TcpSocket {
  state: TcpState;
  /** Bytes written by the owner and not yet acknowledged by the peer (Send-Q). */
  sendQueue: number;
}

export type TcpState =
  | 'ESTABLISHED'
  | 'SYN_SENT'
  | 'SYN_RECV'
  | 'FIN_WAIT1'
  | 'FIN_WAIT2'
  | 'TIME_WAIT'
  | 'CLOSE'
  | 'CLOSE_WAIT'
  | 'LAST_ACK'
  | 'LISTEN'
  | 'CLOSING';

const STATES: TcpState[] = [
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
];

/**
 * The socket whose local port is `localPort` and remote port `remotePort` on 127.0.0.1, or
 * undefined when the kernel has none (never opened, or reset and freed).
 */
export function tcpSocket(localPort: number, remotePort: number): TcpSocket | undefined {
  const local = `0100007F:${localPort.toString(16).toUpperCase().padStart(4, '0')}`;
  const remote = `0100007F:${remotePort.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== local || f[2] !== remote) continue;
    const state = STATES[Number.parseInt(f[3] ?? '', 16) - 1];
    if (state === undefined) throw new Error(`unknown TCP state in /proc/net/tcp: ${line}`);
    return { state, sendQueue: Number.parseInt((f[4] ?? '').split(':')[0] ?? '', 16) };
  }
  return undefined;
}

/** Resolves with the socket (or undefined) once `predicate` holds; rejects after `timeoutMs`. */
export async function tcpSocketUntil(
  localPort: number,
  remotePort: number,
  predicate: (s: TcpSocket | undefined) => boolean,
  timeoutMs: number,
  what: string,
): Promise<TcpSocket | undefined> {
  const start = Date.now();
  for (;;) {
    const socket = tcpSocket(localPort, remotePort);
    if (predicate(socket)) return socket;
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${JSON.stringify(socket)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
