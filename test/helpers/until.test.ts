// The shared polling helper every integration test waits with: synchronous and asynchronous
// predicates, one call at a time, a timeout that also covers a call that never settles, and no timer
// left behind.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { until } from './sse-client.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('until()', () => {
  it('resolves once a synchronous predicate turns true', async () => {
    let calls = 0;
    const done = until(() => ++calls === 3, 1000, 'three calls');
    await vi.advanceTimersByTimeAsync(100);
    await expect(done).resolves.toBeUndefined();
    expect(calls).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('awaits an asynchronous predicate, one call at a time, until it resolves true', async () => {
    let calls = 0;
    let inFlight = 0;
    let most = 0;
    const done = until(
      async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 30));
        inFlight--;
        return ++calls === 4;
      },
      5000,
      'four answers',
    );
    await vi.advanceTimersByTimeAsync(1000);
    await expect(done).resolves.toBeUndefined();
    expect(calls).toBe(4);
    expect(most).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects after the timeout, naming the condition; a function name is read at that moment', async () => {
    const named = until(async () => false, 200, 'the never');
    const expectNamed = expect(named).rejects.toThrow('timed out after 200 ms waiting for the never');
    let seen = 0;
    const described = until(
      () => {
        seen++;
        return false;
      },
      200,
      () => `the counter (last ${seen})`,
    );
    const expectDescribed = expect(described).rejects.toThrow(/waiting for the counter \(last \d+\)/);
    await vi.advanceTimersByTimeAsync(300);
    await expectNamed;
    await expectDescribed;
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects at the timeout even while an asynchronous call never settles, and leaves no timer', async () => {
    const stuck = until(() => new Promise<boolean>(() => {}), 500, 'a stuck read');
    const expectation = expect(stuck).rejects.toThrow('timed out after 500 ms waiting for a stuck read');
    await vi.advanceTimersByTimeAsync(501);
    await expectation;
    expect(vi.getTimerCount()).toBe(0);
  });

  it("passes the predicate's own error on at once", async () => {
    const failing = until(async () => {
      throw new Error('the store is down');
    }, 60_000);
    await expect(failing).rejects.toThrow('the store is down');
    expect(vi.getTimerCount()).toBe(0);
  });
});
