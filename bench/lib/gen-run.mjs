// What the load generators (sustained-gen, storm-gen, scale-gen) share around their measurement:
// the argument block's common options, the --max-seconds watchdog, and the teardown that prints
// the one JSON line, releases the sockets and exits.
import { parseArgs } from 'node:util';

/**
 * Parse a generator's arguments: `--port`, `--ctl`, `--concurrency` and `--max-seconds` (every
 * generator takes them) and its own `options`. Arms the watchdog: past `--max-seconds` the
 * generator prints `result` with `ok: false` and exits 4.
 * @param {Record<string, import('node:util').ParseArgsOptionConfig>} options
 * @param {{ maxSeconds?: string }} [defaults]
 */
export function generatorArgs(options, { maxSeconds = '280' } = {}) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      ctl: { type: 'string' },
      concurrency: { type: 'string', default: '200' },
      'max-seconds': { type: 'string', default: maxSeconds },
      ...options,
    },
  });
  return /** @type {Record<string, string>} */ (values);
}

/**
 * Exit 4 with `result` (`ok: false`) when the run takes longer than `maxSeconds`.
 * @param {Record<string, unknown>} result
 * @param {number} maxSeconds
 */
export function armWatchdog(result, maxSeconds) {
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ ...result, ok: false, error: 'exceeded --max-seconds' })}\n`);
    process.exit(4);
  }, maxSeconds * 1000).unref();
}

/**
 * Run `main`; whatever it does, print `result` (with the generator's own CPU time, and the error
 * if it failed) as one JSON line, `release()` the sockets and exit.
 * @param {Record<string, unknown>} result
 * @param {() => Promise<void>} main
 * @param {() => void} release
 */
export function runGenerator(result, main, release) {
  main()
    .catch((err) => {
      result.ok = false;
      result.error = String(err?.message ?? err);
    })
    .finally(() => {
      const own = process.cpuUsage();
      result.genCpuTotalUs = own.user + own.system;
      process.stdout.write(`${JSON.stringify(result)}\n`);
      release();
      setTimeout(() => process.exit(0), 50).unref();
    });
}
