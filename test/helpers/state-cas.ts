// The compare-and-set contract every SharedState keeps, checked on memory, Redis and PostgreSQL:
// writers racing from the same expected value (each through its own state object, so its own
// connection) — exactly one wins, and the value read back is the winner's.
import { expect } from 'vitest';
import type { SharedState } from '../../src/index.js';

export async function checkCompareAndSet(states: readonly SharedState[], scope: string): Promise<void> {
  const [first] = states;
  if (first === undefined || states.length < 2) throw new Error('needs at least two state objects');
  for (let round = 0; round < 10; round++) {
    const key = `k${round}`;
    // From "no live entry": one of the racers creates it.
    const created = await Promise.all(
      states.map((s, i) => s.compareAndSet(scope, key, undefined, `created-by-${i}`, 60_000)),
    );
    expect(created.filter(Boolean), `round ${round}: creators that won`).toHaveLength(1);
    const winner = created.indexOf(true);
    expect(await first.get(scope, key)).toBe(`created-by-${winner}`);
    // From the winner's value: one of the racers replaces it.
    const replaced = await Promise.all(
      states.map((s, i) => s.compareAndSet(scope, key, `created-by-${winner}`, `replaced-by-${i}`, 60_000)),
    );
    expect(replaced.filter(Boolean), `round ${round}: replacers that won`).toHaveLength(1);
    expect(await first.get(scope, key)).toBe(`replaced-by-${replaced.indexOf(true)}`);
  }
  // A value that is not the live one changes nothing; neither does "absent" while one is live.
  await first.put(scope, 'fixed', 'a', 60_000);
  expect(await first.compareAndSet(scope, 'fixed', 'b', 'c', 60_000)).toBe(false);
  expect(await first.compareAndSet(scope, 'fixed', undefined, 'c', 60_000)).toBe(false);
  expect(await first.get(scope, 'fixed')).toBe('a');
  // An expired entry is absent.
  await first.put(scope, 'short', 'old', 1);
  const deadline = Date.now() + 10_000;
  while (!(await first.compareAndSet(scope, 'short', undefined, 'new', 60_000))) {
    if (Date.now() > deadline) throw new Error('an expired entry still counted as live after 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(await first.get(scope, 'short')).toBe('new');
  // Bad arguments are typed errors before anything is sent.
  await expect(
    Promise.resolve().then(() => first.compareAndSet(scope, 'x', 5 as unknown as string, 'v', 1000)),
  ).rejects.toMatchObject({ code: 'ERR_SSE_INVALID_OPTION' });
  await expect(
    Promise.resolve().then(() => first.compareAndSet(scope, 'x', undefined, 'v', 0)),
  ).rejects.toMatchObject({ code: 'ERR_SSE_INVALID_OPTION' });
}
