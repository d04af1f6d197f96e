// Installs the real services the integration tests run against (Debian packages), or
// fails naming the package. Tests never skip because a service is absent.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Service binaries the suite needs: the command (absolute path or name on PATH) and its Debian package. */
export const SYSTEM_DEPENDENCIES = [
  { command: 'pushpin', pkg: 'pushpin' },
  { command: '/usr/bin/chromium', pkg: 'chromium' },
  { command: 'redis-server', pkg: 'redis-server' },
  { command: 'redis-cli', pkg: 'redis-tools' },
];

export function hasCommand(command) {
  if (command.startsWith('/')) return existsSync(command);
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function canUseApt() {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return isRoot && existsSync('/etc/debian_version') && hasCommand('apt-get');
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
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
  const still = deps.filter((d) => !hasCommand(d.command));
  if (still.length > 0) {
    throw new Error(
      `apt-get did not provide: ${still.map((d) => `${d.command} (package ${d.pkg})`).join(', ')}`,
    );
  }
}
