// Composite Last-Event-IDs (one position per channel, as a GRIP proxy's build-id filter writes
// them for a multi-channel stream) presented to a direct stream: the same client may reconnect
// without the proxy. Each channel resumes after its own position; an id of another channel set,
// of another epoch, or garbage gets a stream-reset, never a silent skip.
import { afterEach, describe, expect, it } from 'vitest';
import { compositeId, sortedChannels } from '../src/history/cursor.js';
import { MemoryStore } from '../src/history/memory-store.js';
import { type EventsFixture, serveEvents } from './helpers/server.js';
import type { SseClient } from './helpers/sse-client.js';

let fx: EventsFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

const numbers = (c: SseClient) => c.named('n').map((e) => JSON.parse(e.data) as number);

/** a: 1, 3, 5 and b: 2, 4, 6, published in that order (seqs 1–6), on a fresh server. */
async function sixEvents(maxEventsPerChannel = 1000): Promise<{ fx: EventsFixture; epoch: string }> {
  const store = new MemoryStore({ maxEventsPerChannel });
  fx = await serveEvents({ keepAlive: false, history: store });
  for (let n = 1; n <= 6; n++) await fx.ev.publish(n % 2 ? 'a' : 'b', { event: 'n', data: n });
  return { fx, epoch: await store.epoch() };
}

const resume = (f: EventsFixture, channels: string, id: string) =>
  f.open(`/?${channels}`, { accept: 'text/event-stream', 'last-event-id': id });

describe('a composite Last-Event-ID on a direct stream', () => {
  it('resumes each channel after its own position, and the ids say what the client has', async () => {
    const { fx, epoch } = await sixEvents();
    // The proxy had delivered a up to 1 and b up to 4.
    const id = compositeId(epoch, sortedChannels(['a', 'b']), { a: 1, b: 4 });
    const c = await resume(fx, 'channel=b&channel=a', id);
    await c.waitFor((x) => numbers(x).length === 3, 3000, 'the replay');
    expect(c.named('stream-open')[0]!.data).toBe('{"replayed":3}');
    expect(numbers(c)).toEqual([3, 5, 6]);
    // After 3 the client has a to 3 and b to 4 (not b to 3: that would replay 4 again).
    expect(c.named('n').map((e) => e.id)).toEqual([
      compositeId(epoch, ['a', 'b'], { a: 3, b: 4 }),
      `${epoch}-5`,
      `${epoch}-6`,
    ]);
    await fx.ev.publish('a', { event: 'n', data: 7 });
    await c.waitFor((x) => numbers(x).includes(7), 3000, 'a live event');
    expect(numbers(c)).toEqual([3, 5, 6, 7]);
    expect(c.named('stream-reset')).toEqual([]);
  });

  it('an id of another channel set, of another epoch, or a broken one is reset, naming why', async () => {
    const { fx, epoch } = await sixEvents();
    const cases: Array<[id: string, reason: string]> = [
      [compositeId(epoch, ['a', 'c'], { a: 1, c: 0 }), 'unknown-id'],
      [compositeId(epoch, ['a', 'b', 'c'], { a: 1, b: 2, c: 0 }), 'unknown-id'],
      [compositeId('otherepoch', ['a', 'b'], { a: 1, b: 2 }), 'unknown-id'],
      [compositeId(epoch, ['a', 'b'], { a: 1, b: 99 }), 'unknown-id'],
      [`${compositeId(epoch, ['a', 'b'], { a: 1, b: 2 })}.`, 'malformed-id'],
      ['zz:garbage', 'malformed-id'],
    ];
    for (const [id, reason] of cases) {
      const c = await resume(fx, 'channel=a&channel=b', id);
      await c.waitFor((x) => x.named('stream-reset').length === 1, 3000, `a reset for ${id}`);
      expect(JSON.parse(c.named('stream-reset')[0]!.data), id).toEqual({ channels: ['a', 'b'], reason });
      expect(numbers(c), id).toEqual([]);
      c.close();
    }
  });

  it('retention that cut only into events the client has is no gap', async () => {
    // Each channel keeps its last 2 events: b lost 2, but the client has b up to 4 (and a up to 1).
    const { fx, epoch } = await sixEvents(2);
    const c = await resume(fx, 'channel=a&channel=b', compositeId(epoch, ['a', 'b'], { a: 1, b: 4 }));
    await c.waitFor((x) => numbers(x).length === 3, 3000, 'the replay');
    expect(numbers(c)).toEqual([3, 5, 6]);
    expect(c.named('stream-reset')).toEqual([]);
  });
});
