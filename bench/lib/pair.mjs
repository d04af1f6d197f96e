// One benchmark run of the issue-13 benchmarks: a fresh server process (core 0) and a fresh load
// generator (core 1), both with the fd limit raised; the generator's last JSON line is the result.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNode, stop, TASKSET, watch } from './proc.mjs';

const bench = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export const canPin = () => TASKSET !== null && os.cpus().length >= 2;

/** Busy CPU µs of the whole machine so far (/proc/stat). */
function machineBusyUs() {
  try {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return (f.slice(0, 8).reduce((x, y) => x + y, 0) - idle) * 10_000;
  } catch {
    return Number.NaN;
  }
}

/**
 * @param {{ subject: string, serverArgs?: string[], nodeArgs?: string[], gen: string, genArgs: string[], pin: boolean, timeoutMs: number, onServer?: (ready: any) => void }} o
 */
export async function runPair(o) {
  const busy0 = machineBusyUs();
  const t0 = performance.now();
  const server = spawnNode(
    [
      ...(o.nodeArgs ?? []),
      '--expose-gc',
      path.join(bench, 'server.mjs'),
      '--subject',
      o.subject,
      ...(o.serverArgs ?? []),
    ],
    { cpu: o.pin ? 0 : null },
  );
  const sw = watch(server);
  /** @type {Record<string, any>} */
  let out = { ok: false };
  try {
    const ready = JSON.parse((await sw.waitLine('READY ', 30_000)).slice(6));
    o.onServer?.(ready);
    const gen = spawnNode(
      [path.join(bench, o.gen), '--port', String(ready.port), '--ctl', String(ready.ctl), ...o.genArgs],
      { cpu: o.pin ? 1 : null },
    );
    const gw = watch(gen);
    gen.stderr?.on('data', (d) => process.stderr.write(d));
    const t = setTimeout(() => gen.kill('SIGKILL'), o.timeoutMs);
    await gw.exited;
    clearTimeout(t);
    const last = gw.lines.filter((l) => l.startsWith('{')).pop();
    if (!last) throw new Error(`load generator printed no result: ${gw.stderr.slice(-1000)}`);
    out = JSON.parse(last);
    out.serverPid = ready.pid;
  } catch (err) {
    out.ok = false;
    out.error = String(err?.message ?? err);
  } finally {
    await stop(server, sw.exited);
    if (sw.stderr.trim()) out.serverStderr = sw.stderr.slice(-1000);
  }
  const wallUs = (performance.now() - t0) * 1000;
  const busy = machineBusyUs() - busy0;
  if (Number.isFinite(busy) && out.serverCpuTotalUs !== undefined && out.genCpuTotalUs !== undefined) {
    out.foreignLoad = Math.max(
      0,
      (busy - out.serverCpuTotalUs - out.genCpuTotalUs) / (wallUs * os.cpus().length),
    );
  }
  return out;
}

export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
