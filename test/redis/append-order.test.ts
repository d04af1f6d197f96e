// Two appends in flight on one connection (the core sends the next before the previous answered):
// a retry of the later one must not reach Redis before the earlier one settled, or it could be
// stored first. A scripted client stands in for ioredis: which attempt fails is chosen here.
import { describe, expect, it } from 'vitest';
import { type Script, settleAppend } from '../../src/integrations/redis/commands.js';
import type { RedisClient } from '../../src/integrations/redis/link.js';
import { until } from '../helpers/sse-client.js';

const SCRIPT: Script = { lua: 'return 1', sha: 'a'.repeat(40) };

describe('settleAppend', () => {
  it("a later append's retry waits until the earlier append settled", async () => {
    const sent: string[] = [];
    const held: Array<() => void> = [];
    let attempt = 0;
    const client = {
      evalsha: (_sha: string, _n: number, name: string) => {
        sent.push(name);
        attempt++;
        // Both first attempts lose their connection (no answer); A's retry answers when released.
        if (attempt <= 2) return Promise.reject(new Error('Connection is closed.'));
        return new Promise((resolve) => held.push(() => resolve(name)));
      },
    } as unknown as RedisClient;
    const context = (before: Promise<unknown>) => ({
      endpoint: 'redis://127.0.0.1',
      closed: () => false,
      failure: () => undefined,
      before,
    });
    const giveUpAt = Date.now() + 10_000;
    const a = settleAppend(client, SCRIPT, ['A'], [], giveUpAt, context(Promise.resolve()));
    const b = settleAppend(client, SCRIPT, ['B'], [], giveUpAt, context(a.catch(() => undefined)));
    await until(() => sent.length === 3, 2000, "A's retry");
    expect(sent).toEqual(['A', 'B', 'A']);
    // A's retry is unanswered: B waits, however long its own backoff would be.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sent).toEqual(['A', 'B', 'A']);
    held.shift()!();
    await expect(a).resolves.toBe('A');
    await until(() => sent.length === 4, 2000, "B's retry");
    expect(sent).toEqual(['A', 'B', 'A', 'B']);
    held.shift()!();
    await expect(b).resolves.toBe('B');
  });
});
