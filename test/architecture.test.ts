// The lint's architecture check (scripts/check-architecture.mjs) on copies of src/ with one
// violation planted each: it must name the module and the rule, and exit non-zero. A check that
// passes whatever the imports would let the floors rot unnoticed.
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../scripts/check-architecture.mjs', import.meta.url));
const src = fileURLToPath(new URL('../src', import.meta.url));
const copies: string[] = [];

/** A copy of src/ with `plant` applied, checked: exit code and everything it printed. */
async function check(plant: (copy: string) => void = () => {}): Promise<{ code: number; output: string }> {
  const copy = mkdtempSync(join(tmpdir(), 'architecture-'));
  copies.push(copy);
  cpSync(src, copy, { recursive: true });
  plant(copy);
  try {
    const { stdout, stderr } = await run(process.execPath, [script, '--src', copy]);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

afterEach(() => {
  for (const copy of copies.splice(0)) rmSync(copy, { recursive: true, force: true });
});

describe('architecture check', () => {
  it('passes the tree as it is', async () => {
    const { code, output } = await check();
    expect(output).toContain('none importing upwards');
    expect(code).toBe(0);
  });

  it('fails a type-only import from a lower floor to a higher one', async () => {
    const { code, output } = await check((copy) =>
      appendFileSync(
        join(copy, 'engine/store.ts'),
        "import type { Subscriptions } from '../core/subscription.js';\n",
      ),
    );
    expect(code).toBe(1);
    expect(output).toContain('engine/store.ts: imports core/subscription.ts, from engine/ up to core/');
  });

  it('fails the protocol importing GRIP (the decision declares what it asks of GRIP)', async () => {
    const { code, output } = await check((copy) =>
      appendFileSync(
        join(copy, 'protocol/decision.ts'),
        "import { createGripPlugin } from '../grip/plugin.js';\n",
      ),
    );
    expect(code).toBe(1);
    expect(output).toContain('protocol/decision.ts: imports grip/plugin.ts, from protocol/ up to grip/');
  });

  it('fails an integration importing a core module relatively (a second copy of the core)', async () => {
    const { code, output } = await check((copy) =>
      appendFileSync(
        join(copy, 'integrations/metrics/index.ts'),
        "import { Events } from '../../compose/events.js';\n",
      ),
    );
    expect(code).toBe(1);
    expect(output).toContain('integrations/metrics/index.ts: imports compose/events.ts relatively');
  });

  it('fails a folder that is on no floor', async () => {
    const { code, output } = await check((copy) => {
      mkdirSync(join(copy, 'unplaced'));
      writeFileSync(join(copy, 'unplaced/index.ts'), 'export const placed = false;\n');
    });
    expect(code).toBe(1);
    expect(output).toContain('src/unplaced/ is on no floor');
  });
});
