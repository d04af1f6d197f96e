// The argument block of the benchmark drivers (sustained, storm, scale): every driver takes
// `--out`, `--no-report` and `--no-pin`; its own flags map to the options of its run function.
import { parseArgs } from 'node:util';

/**
 * @typedef {'string' | 'number' | 'list' | 'numbers'} Kind
 *   how a flag's text becomes an option: as is, a number, a comma list, a comma list of numbers
 */

/**
 * Parse the driver's arguments. `flags` maps each flag to `[option, kind]`; a flag that is absent
 * (or empty) leaves its option out, so the run function's default applies. `extra` adds flags
 * the driver reads itself (from `values`).
 * @param {Record<string, [string, Kind]>} flags
 * @param {Record<string, import('node:util').ParseArgsOptionConfig>} [extra]
 */
export function driverArgs(flags, extra = {}) {
  /** @type {Record<string, import('node:util').ParseArgsOptionConfig>} */
  const options = {
    out: { type: 'string' },
    'no-report': { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
    ...extra,
  };
  for (const flag of Object.keys(flags)) options[flag] = { type: 'string' };
  const values = /** @type {Record<string, string | boolean | undefined>} */ (parseArgs({ options }).values);
  /** @type {Record<string, unknown>} */
  const run = {
    report: !values['no-report'],
    ...(values['no-pin'] && { pin: false }),
    ...(values.out && { out: values.out }),
  };
  for (const [flag, [option, kind]] of Object.entries(flags)) {
    const text = values[flag];
    if (typeof text !== 'string' || text === '') continue;
    run[option] =
      kind === 'number'
        ? Number(text)
        : kind === 'list'
          ? text.split(',')
          : kind === 'numbers'
            ? text.split(',').map(Number)
            : text;
  }
  return { run, values };
}
