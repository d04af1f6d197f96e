// Real redis-server processes for integration tests (Debian package `redis-server`). The launcher
// lives in scripts/redis.mjs so demos can use it too; this file adds types and makes sure the
// package is installed (apt-get as root, else an error naming it). Tests never skip for lack of Redis.

export interface StartRedisOptions {
  /** appendonly yes (fsync every second): data survives kill -9 and restart. Default false. */
  aof?: boolean;
  /** Extra redis.conf directives. */
  config?: Record<string, string>;
  readyTimeoutMs?: number;
}

export interface RedisInstance {
  readonly port: number;
  readonly dir: string;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  tailLog(): string;
  /** redis-cli against this server; trimmed stdout. */
  cli(...args: string[]): string;
  /** SIGKILL by PID; keeps port and data dir for start(). */
  kill(): Promise<void>;
  /** SIGTERM by PID; keeps port and data dir for start(). */
  pause(): Promise<void>;
  /** Start again on the same port and data dir; resolves once it answers PING. */
  start(): Promise<void>;
  /** Stop by PID and delete the data dir. */
  stop(): Promise<void>;
}

export interface RedisCluster {
  readonly nodes: readonly RedisInstance[];
  readonly startupNodes: ReadonlyArray<{ host: string; port: number }>;
  stop(): Promise<void>;
}

interface RedisScript {
  startRedis(options?: StartRedisOptions): Promise<RedisInstance>;
  startRedisCluster(options?: StartRedisOptions & { masters?: number }): Promise<RedisCluster>;
}

async function load<T>(relative: string): Promise<T> {
  return (await import(new URL(relative, import.meta.url).href)) as T;
}

let ensured = false;

async function ensureRedis(): Promise<void> {
  if (ensured) return;
  const deps = await load<{
    dependenciesFor(...commands: string[]): ReadonlyArray<{ command: string; pkg: string }>;
    ensureSystemDependencies(deps?: ReadonlyArray<{ command: string; pkg: string }>): void;
  }>('../../scripts/system-deps.mjs');
  deps.ensureSystemDependencies(deps.dependenciesFor('redis-server', 'redis-cli'));
  ensured = true;
}

/** A private redis-server on a free 127.0.0.1 port with its own config and temp data dir. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisInstance> {
  await ensureRedis();
  return (await load<RedisScript>('../../scripts/redis.mjs')).startRedis(options);
}

/** A 3-master (by default) Redis Cluster on loopback, slots assigned, cluster_state ok. */
export async function startRedisCluster(
  options: StartRedisOptions & { masters?: number } = {},
): Promise<RedisCluster> {
  await ensureRedis();
  return (await load<RedisScript>('../../scripts/redis.mjs')).startRedisCluster(options);
}
