// Shared pieces of the sustained / storm / scale load generators: the control channel, a pool
// of raw SSE clients, and a few persistent publisher connections.

import http from 'node:http';
import net from 'node:net';
import { SseClient } from './sse-client.mjs';

export const now = () => performance.now();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function withTimeout(p, ms, what) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]);
}

/** A JSON request/response helper for the server's control port. */
export function controlChannel(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const ctl = (method, path, timeoutMs = 60_000) =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => {
          try {
            resolve(JSON.parse(body));
          } catch {
            reject(new Error(`ctl ${path}: ${res.statusCode} ${body.slice(0, 200)}`));
          }
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`ctl ${path} timed out`)));
      req.on('error', reject);
      req.end();
    });
  return { ctl, close: () => agent.destroy() };
}

/** Polls GET /stats until the server reports at least `n` subscribers (bounded). */
export async function waitSubscribers(ctl, n, ms = 30_000) {
  const t0 = now();
  for (;;) {
    const st = await ctl('GET', '/stats');
    if (st.subscribers >= n) return st.subscribers;
    if (now() - t0 > ms)
      throw new Error(`server reports ${st.subscribers} of ${n} subscribers after ${ms} ms`);
    await sleep(50);
  }
}

/**
 * Raw SSE clients over node:net. `open(path, headers)` resolves with the client once its
 * response head arrived. Each socket's data handler sets `pool.readAt` (one clock read per
 * read(2), shared by every event parsed from it) before parsing.
 */
export class ClientPool {
  /**
   * @param {number} port
   * @param {(client: SseClient, seq: number) => void} onEvent
   */
  constructor(port, onEvent) {
    this.port = port;
    this.onEvent = onEvent;
    this.readAt = 0;
    /** @type {Set<net.Socket>} */
    this.sockets = new Set();
    this.closedEarly = 0;
    this.errors = 0;
    this.lastError = '';
    this.stopping = false;
  }

  /**
   * @param {string} path
   * @param {Record<string, string>} [headers]
   * @param {(c: SseClient) => void} [init] called before the request is sent
   * @returns {Promise<{ client: SseClient, socket: net.Socket }>}
   */
  open(path, headers = {}, init) {
    return new Promise((resolve, reject) => {
      const client = new SseClient(this.onEvent);
      init?.(client);
      const socket = net.connect({ host: '127.0.0.1', port: this.port });
      socket.setNoDelay(true);
      let extra = '';
      for (const [k, v] of Object.entries(headers)) extra += `${k}: ${v}\r\n`;
      const req = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n${extra}\r\n`;
      let settled = false;
      const done = (err) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve({ client, socket });
      };
      socket.on('connect', () => socket.write(req));
      socket.on('data', (buf) => {
        this.readAt = performance.now();
        client.push(buf);
        if (!settled && client.headComplete) {
          if (client.status === 200) done();
          else done(new Error(`status ${client.status} ${client.protocolError}`));
        }
      });
      socket.on('error', (err) => {
        this.errors++;
        this.lastError = err.message;
        done(err);
      });
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.end();
        if (!this.stopping && !socket.cutByUs) this.closedEarly++;
        done(new Error('closed before response head'));
      });
      this.sockets.add(socket);
    });
  }

  /**
   * Opens `n` clients with at most `concurrency` connects in flight; `spec(i)` gives each one's
   * path, headers and init. Resolves with the clients in order.
   */
  async openMany(n, concurrency, spec) {
    let next = 0;
    let failed = 0;
    let firstError = '';
    /** @type {{ client: SseClient, socket: net.Socket }[]} */
    const out = new Array(n);
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const s = spec(i);
        try {
          out[i] = await this.open(s.path, s.headers, s.init);
        } catch (err) {
          failed++;
          if (!firstError) firstError = String(err?.message ?? err);
        }
      }
    };
    const workers = [];
    for (let i = 0; i < Math.min(concurrency, n); i++) workers.push(worker());
    await Promise.all(workers);
    if (failed > 0) throw new Error(`${failed} of ${n} connections failed: ${firstError}`);
    return out;
  }

  destroyAll() {
    this.stopping = true;
    for (const s of this.sockets) s.destroy();
  }
}

/**
 * `m` persistent connections to the control port, each carrying one `POST /publish-one` at a
 * time (no pipelining), so every event reaches the server in its own read and its own request
 * callback. `send(seq, ch)` returns false when every connection is busy.
 */
export class Publishers {
  constructor(port, m) {
    this.port = port;
    this.m = m;
    /** @type {net.Socket[]} */
    this.idle = [];
    this.all = [];
    this.inFlight = 0;
    this.sent = 0;
    this.answered = 0;
    /** @type {(() => void) | null} called after each answer (a connection became idle) */
    this.onIdle = null;
  }

  async open() {
    const conns = [];
    for (let i = 0; i < this.m; i++) {
      conns.push(
        new Promise((resolve, reject) => {
          const s = net.connect({ host: '127.0.0.1', port: this.port }, () => resolve(s));
          s.setNoDelay(true);
          s.once('error', reject);
          let tail = '';
          s.on('data', (buf) => {
            // responses are 204s without a body: each one ends at its blank line
            const text = tail + buf.latin1Slice(0, buf.length);
            let at = text.indexOf('\r\n\r\n');
            while (at >= 0) {
              this.answered++;
              this.inFlight--;
              this.idle.push(s);
              at = text.indexOf('\r\n\r\n', at + 4);
            }
            tail = text.slice(-3);
            this.onIdle?.();
          });
        }),
      );
    }
    this.all = await Promise.all(conns);
    this.idle = [...this.all];
  }

  /** @param {string} query e.g. `t=5` or `seq=5&ch=c1` (see server.mjs /publish-one) */
  send(query) {
    const s = this.idle.pop();
    if (!s) return false;
    this.inFlight++;
    this.sent++;
    s.write(`POST /publish-one?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`);
    return true;
  }

  close() {
    for (const s of this.all) s.destroy();
  }
}
