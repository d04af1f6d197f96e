// Where a Redis connection goes and whether it is down: what errors name so an operator can act on
// them ("Redis read failed at redis://cache:6379: connect ECONNREFUSED 10.0.0.5:6379"), instead of
// ioredis' "Reached the max retries per request limit", which names neither.

import { Events } from 'express-eventstream';
import type { Cluster, Redis } from 'ioredis';
import { type PackageInternals, packageInternals } from '../../compose/internal-key.js';

const internals: PackageInternals = packageInternals(Events);

/** A connected ioredis client: a single server or a cluster. */
export type RedisClient = Redis | Cluster;

/** The URL without its password (kept out of messages and logs); a unix socket path as is. */
export function redactUrl(url: string): string {
  return internals.redactUrl(url, 'redis');
}

/** The endpoint of a client the application passed in, from its options. */
export function clientEndpoint(client: RedisClient): string {
  if ('nodes' in client && typeof client.nodes === 'function') {
    // A cluster: its first startup node (private in the typings, a host:port object or a URL).
    const first = (client as unknown as { startupNodes?: unknown[] }).startupNodes?.[0];
    const node = first as { host?: string; port?: number } | string | number | undefined;
    if (typeof node === 'string') return `redis cluster at ${redactUrl(node)}`;
    if (typeof node === 'object') return `redis cluster at ${node.host ?? '127.0.0.1'}:${node.port ?? 6379}`;
    return 'redis cluster';
  }
  const o = (client as Redis).options;
  if (o.path) return o.path;
  return `redis://${o.host ?? '127.0.0.1'}:${o.port ?? 6379}${o.db ? `/${o.db}` : ''}`;
}

/** Errors of a connection's failed attempts, until it is ready again. */
export class Link {
  #failure: Error | undefined;
  readonly #client: RedisClient;
  /** Callers of ready() (one 'ready' listener for all of them, however many wait). */
  readonly #waiting = new Set<() => void>();

  constructor(client: RedisClient) {
    this.#client = client;
    // 'error' events are the connection's (a failed command rejects its own promise instead).
    client.on('error', (err: unknown) => {
      this.#failure = err instanceof Error ? err : new Error(String(err));
    });
    client.on('ready', () => {
      this.#failure = undefined;
      for (const waiter of this.#waiting) waiter();
      this.#waiting.clear();
    });
  }

  /** Why the connection is down: the last failed attempt's error; undefined while it is up or untried. */
  get failure(): Error | undefined {
    return this.#client.status === 'ready' ? undefined : this.#failure;
  }

  /** Whether the connection is ready within `timeoutMs` (at once when it is). */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.#client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#waiting.add(waiter);
    });
  }
}
