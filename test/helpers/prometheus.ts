// A real Prometheus server (Debian package `prometheus`) and promtool for the metrics tests.
// Each server runs with a private config and data directory on a free 127.0.0.1 port, scrapes
// only the targets it is given, and is stopped by PID. Tests never skip for lack of it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './pushpin.js';

interface SystemDepsModule {
  ensureSystemDependencies(deps?: ReadonlyArray<{ command: string; pkg: string }>): void;
  dependenciesFor(...commands: string[]): Array<{ command: string; pkg: string }>;
}

let ensured = false;

/** Installs the `prometheus` package (prometheus + promtool) when missing. */
export async function ensurePrometheus(): Promise<void> {
  if (ensured) return;
  const href = new URL('../../scripts/system-deps.mjs', import.meta.url).href;
  const deps = (await import(href)) as SystemDepsModule;
  deps.ensureSystemDependencies(deps.dependenciesFor('promtool', 'prometheus'));
  ensured = true;
}

/** `promtool check metrics` on an exposition: exit code and output (problems are printed). */
export async function promtoolCheckMetrics(text: string): Promise<{ code: number; output: string }> {
  await ensurePrometheus();
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', ['check', 'metrics'], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      if (err !== null && typeof err.code !== 'number') reject(err);
      else resolve({ code, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(text);
  });
}

export interface PrometheusInstance {
  readonly port: number;
  readonly pid: number | undefined;
  /** An instant query through the HTTP API: each series' labels and value. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** Output so far (for failure reports). */
  log(): string;
  stop(): Promise<void>;
}

/** Starts Prometheus scraping `targets` (host:port, path /metrics) every `scrapeIntervalMs`. */
export async function startPrometheus(options: {
  targets: readonly string[];
  scrapeIntervalMs?: number;
  readyTimeoutMs?: number;
}): Promise<PrometheusInstance> {
  await ensurePrometheus();
  const port = (await freePorts(1))[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'ees-prometheus-'));
  const interval = `${options.scrapeIntervalMs ?? 500}ms`;
  const config = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    '  evaluation_interval: 10s',
    'scrape_configs:',
    '  - job_name: app',
    '    static_configs:',
    `      - targets: [${options.targets.map((t) => `'${t}'`).join(', ')}]`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), config);
  let output = '';
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => {
    running = false;
  });
  const base = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (running && child.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (!running) {
      await stop();
      throw new Error(`prometheus exited before it was ready:\n${output}`);
    }
    const ready = await fetch(`${base}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus was not ready in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    port,
    get pid() {
      return child.pid;
    },
    async query(expr) {
      const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      if (body.status !== 'success' || body.data === undefined) {
        throw new Error(`query ${expr} failed: ${body.error ?? res.status}`);
      }
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    log: () => output,
    stop,
  };
}
