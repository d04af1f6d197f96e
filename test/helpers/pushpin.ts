// A real Pushpin for integration tests (Debian package `pushpin`). The launcher lives in
// scripts/pushpin.mjs so the demo can use it too; this file adds types and makes sure the package
// is installed (apt-get as root, else an error naming it). Tests never skip for lack of Pushpin.

export interface StartPushpinOptions {
  /** Origin port(s): one routes line `* 127.0.0.1:<port> …`; several ports are tried in order (failover). */
  originPort?: number | readonly number[];
  /** Full routes file text; overrides `originPort`. */
  routes?: string;
  /** Add `aco` (auto cross-origin) to the route. */
  aco?: boolean;
  /** Pushpin's `sig_key` (default `changeme`, Pushpin's own default). */
  sigKey?: string;
  /** Pushpin's `sig_iss` (default `pushpin`). */
  sigIss?: string;
  /** Fixed ports (default: free ones). */
  httpPort?: number;
  publishPort?: number;
  /** Optional app path probed through the proxy until it answers below 500 (after the built-in canary check). */
  readyPath?: string;
  readyTimeoutMs?: number;
}

export interface PushpinInstance {
  readonly httpPort: number;
  readonly publishPort: number;
  /** `http://127.0.0.1:<publishPort>?key=<sigKey>`. */
  readonly gripUrl: string;
  /** `http://127.0.0.1:<httpPort>`: where clients connect. */
  readonly baseUrl: string;
  readonly dir: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Waits until the handler logged `count` subscriptions to the full (prefixed) channel name. */
  waitForSubscription(channel: string, count?: number, timeoutMs?: number): Promise<number>;
  waitForLog(
    pattern: RegExp,
    options?: { count?: number; timeoutMs?: number; file?: string },
  ): Promise<number>;
  readLog(file: string): string;
  tailLogs(): string;
  /** SIGTERM by PID and wait for exit; keeps ports and directory for `start()`. */
  pause(): Promise<void>;
  /** Start again on the same ports. */
  start(): Promise<void>;
  /** SIGTERM by PID, wait for exit, delete the directory. */
  stop(): Promise<void>;
}

interface PushpinScript {
  startPushpin(
    options: Omit<StartPushpinOptions, 'originPort'> & { originPorts?: number | readonly number[] },
  ): Promise<PushpinInstance>;
  freePorts(count: number): Promise<number[]>;
}

interface SystemDependency {
  command: string;
  pkg: string;
  recommends?: boolean;
}

interface SystemDepsModule {
  dependenciesFor(...commands: string[]): SystemDependency[];
  ensureSystemDependencies(deps?: readonly SystemDependency[]): void;
}

// Computed specifiers: the scripts are plain JavaScript without type declarations.
async function load<T>(relative: string): Promise<T> {
  return (await import(new URL(relative, import.meta.url).href)) as T;
}

let ensured = false;

/** Installs the `pushpin` package when missing (as root, with apt-get); throws naming it otherwise. */
export async function ensurePushpin(): Promise<void> {
  if (ensured) return;
  const deps = await load<SystemDepsModule>('../../scripts/system-deps.mjs');
  deps.ensureSystemDependencies(deps.dependenciesFor('pushpin'));
  ensured = true;
}

/** Starts a private Pushpin on free 127.0.0.1 ports, routed to `originPort`, and waits until it serves. */
export async function startPushpin(options: StartPushpinOptions): Promise<PushpinInstance> {
  await ensurePushpin();
  const script = await load<PushpinScript>('../../scripts/pushpin.mjs');
  const { originPort, ...rest } = options;
  return script.startPushpin({ ...rest, ...(originPort !== undefined && { originPorts: originPort }) });
}

/** Distinct free TCP ports on 127.0.0.1. */
export async function freePorts(count: number): Promise<number[]> {
  const script = await load<PushpinScript>('../../scripts/pushpin.mjs');
  return script.freePorts(count);
}
