// Installs the real services the integration tests run against (Debian packages), or
// fails naming the package. Tests never skip because a service is absent.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

/**
 * Service binaries the suite needs: the command (absolute path or name on PATH) and the Debian
 * package that provides it. To add a service, add one line here; `ensureSystemDependencies()`
 * installs only the packages whose commands are missing. Recommended packages are left out
 * unless `recommends: true`: prometheus, for one, recommends a node-exporter daemon that promtool
 * does not need. Chromium keeps them: its fonts (fonts-liberation) and software GL driver
 * (libgl1-mesa-dri) are only recommended, and pages render without glyphs when they are missing.
 */
export const SYSTEM_DEPENDENCIES = [
  { command: 'pushpin', pkg: 'pushpin' },
  { command: '/usr/bin/chromium', pkg: 'chromium', recommends: true },
  { command: 'redis-server', pkg: 'redis-server' },
  { command: 'redis-cli', pkg: 'redis-tools' },
  { command: 'promtool', pkg: 'prometheus' },
  { command: 'prometheus', pkg: 'prometheus' },
  // The server's binaries live under the version's own dir (not on PATH): any installed version.
  { command: '/usr/lib/postgresql/*/bin/initdb', pkg: 'postgresql' },
];

/** The entries of SYSTEM_DEPENDENCIES for the given commands, e.g. `dependenciesFor('redis-server')`. */
export function dependenciesFor(...commands) {
  return commands.map((command) => {
    const dep = SYSTEM_DEPENDENCIES.find((d) => d.command === command);
    if (dep === undefined) throw new Error(`${command} is not listed in SYSTEM_DEPENDENCIES`);
    return dep;
  });
}

export function hasCommand(command) {
  if (command.includes('*')) {
    // One `*` segment: any directory in its place (e.g. a versioned install dir).
    const [before, after] = command.split('*');
    return existsSync(before) && readdirSync(before).some((name) => existsSync(`${before}${name}${after}`));
  }
  if (command.startsWith('/')) return existsSync(command);
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' }).status === 0;
}

function canUseApt() {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return isRoot && existsSync('/etc/debian_version') && hasCommand('apt-get');
}

/**
 * The apt-get argument lists that install the packages of `missing` (entries of
 * SYSTEM_DEPENDENCIES) and nothing else: `--no-upgrade` leaves every installed package at its
 * version (apt upgrades one only when a missing package strictly requires a newer one), and
 * there is no `apt-get upgrade`.
 */
export function aptCommands(missing) {
  const withRecommends = [...new Set(missing.filter((d) => d.recommends === true).map((d) => d.pkg))];
  const without = [...new Set(missing.filter((d) => d.recommends !== true).map((d) => d.pkg))].filter(
    (p) => !withRecommends.includes(p),
  );
  const commands = [['update', '-qq']];
  if (without.length > 0)
    commands.push(['install', '-y', '-qq', '--no-upgrade', '--no-install-recommends', ...without]);
  if (withRecommends.length > 0) commands.push(['install', '-y', '-qq', '--no-upgrade', ...withRecommends]);
  return commands;
}

export function ensureSystemDependencies(deps = SYSTEM_DEPENDENCIES) {
  const missing = deps.filter((d) => !hasCommand(d.command));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((d) => d.pkg))];
  if (!canUseApt()) {
    throw new Error(
      `Missing service binaries: ${missing.map((d) => d.command).join(', ')}. ` +
        `Install the Debian package(s): apt-get install ${pkgs.join(' ')}`,
    );
  }
  console.log(`[system-deps] installing ${pkgs.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of aptCommands(missing)) execFileSync('apt-get', args, { stdio: 'inherit', env });
  const still = deps.filter((d) => !hasCommand(d.command));
  if (still.length > 0) {
    throw new Error(
      `apt-get did not provide: ${still.map((d) => `${d.command} (package ${d.pkg})`).join(', ')}`,
    );
  }
}
