// Revocation at the scale: 3 server processes on one private Redis, 1,000 streams of one
// user spread over them and 30 of another user, `revoke({ sub })` called in one process. Runs
// bench/identity.mjs (it starts its own redis-server and the three servers, holds every client
// in its own process, and stops them all by PID) and checks what it observed: every victim's
// stream got `stream-error` `revoked` and was closed by its server, the other user's streams
// stayed open, a victim reconnecting to each process was refused, and 300 streams whose tokens
// expired each got `token-expired`. The timings are the bench's to report, not this test's.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BENCH = fileURLToPath(new URL('../../bench/identity.mjs', import.meta.url));

function run(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BENCH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('revocation across 3 processes on Redis', () => {
  it("1,000 streams of one user are all closed, the other user's stay open, reconnects are refused", async () => {
    const { code, out } = await run(['--streams', '1000', '--expiring', '300']);
    expect(code, out).toBe(0);
    expect(out).toContain('| 1000/1000 closes reported by the servers |');
    expect(out).toContain('1000/1000 got `stream-error` `revoked`');
    expect(out).toContain('30/30 other streams still open');
    expect(out).toContain('3/3 reconnects refused');
    expect(out).toContain('300/300 got `stream-error` `token-expired`');
    expect(out).not.toContain('server error');
  }, 240_000);
});
