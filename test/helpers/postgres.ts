// Real PostgreSQL clusters for integration tests (Debian package `postgresql`). The launcher lives
// in scripts/postgres.mjs so demos and benchmarks can use it too; this file adds types and makes
// sure the package is installed (apt-get as root, else an error naming it). Tests never skip.

export interface PostgresInstance {
  readonly port: number;
  readonly dir: string;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  tailLog(): string;
  /** Immediate shutdown by PID (SIGQUIT); keeps port and data dir for start(). */
  crash(): Promise<void>;
  /** Fast shutdown by PID (SIGINT); keeps port and data dir for start(). */
  pause(): Promise<void>;
  /** Start again on the same port and data dir; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stop by PID and delete the data dir. */
  stop(): Promise<void>;
}

interface PostgresScript {
  startPostgres(options?: {
    port?: number;
    dir?: string;
    config?: Record<string, string>;
  }): Promise<PostgresInstance>;
}

let ensured = false;

/** A private cluster (`initdb` in a temp dir) on a free 127.0.0.1 port. */
export async function startPostgres(
  options: { port?: number; dir?: string; config?: Record<string, string> } = {},
): Promise<PostgresInstance> {
  if (!ensured) {
    const deps = (await import(new URL('../../scripts/system-deps.mjs', import.meta.url).href)) as {
      dependenciesFor(...commands: string[]): ReadonlyArray<{ command: string; pkg: string }>;
      ensureSystemDependencies(deps?: ReadonlyArray<{ command: string; pkg: string }>): void;
    };
    deps.ensureSystemDependencies(deps.dependenciesFor('/usr/lib/postgresql/*/bin/initdb'));
    ensured = true;
  }
  const script = (await import(
    new URL('../../scripts/postgres.mjs', import.meta.url).href
  )) as PostgresScript;
  return script.startPostgres(options);
}
