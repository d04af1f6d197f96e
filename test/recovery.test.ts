// GRIP reliable-mode recovery plans (the answer to Pushpin's Grip-Last requests), on the store.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/history/memory-store.js';
import { planRecovery } from '../src/history/recovery.js';

function parse(text: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  createParser({ onEvent: (e) => events.push(e) }).feed(text);
  return events;
}

const body = (n: number) => `event: n\ndata: ${n}\n\n`;

describe('planRecovery', () => {
  it('replays each channel after its own last id, in seq order, and gives the new last ids', async () => {
    const store = new MemoryStore();
    const epoch = await store.epoch();
    await store.append([1, 2, 3, 4].map((n) => ({ channel: n % 2 ? 'a' : 'b', body: body(n) })));
    const plan = await planRecovery(store, ['a', 'b'], { a: `${epoch}-1`, b: `${epoch}-2` });
    expect(parse(plan.text).map((e) => [e.id, e.data])).toEqual([
      [`${epoch}-3`, '3'],
      [`${epoch}-4`, '4'],
    ]);
    expect(plan.lastIds).toEqual({ a: `${epoch}-3`, b: `${epoch}-4` });
  });

  it('names the right reason for each lost channel', async () => {
    const store = new MemoryStore({ maxEventsPerChannel: 1 });
    const epoch = await store.epoch();
    await store.append([1, 2, 3].map((n) => ({ channel: 'c', body: body(n) })));
    const plan = await planRecovery(store, ['a', 'b', 'c'], {
      a: 'garbage',
      b: 'otherepoch-1',
      c: `${epoch}-1`,
    });
    const resets = parse(plan.text).map((e) => JSON.parse(e.data) as { channels: string[]; reason: string });
    expect(resets).toEqual([
      { channels: ['a'], reason: 'malformed-id' },
      { channels: ['b'], reason: 'unknown-id' },
      { channels: ['c'], reason: 'expired' },
    ]);
  });

  it('reads once: resets come first, and no id claims an event the plan does not carry', async () => {
    // Events are published on b while the plan reads: they are not in it, so no id may cover them
    // (the proxy gets them live, after b's last id).
    class BusyStore extends MemoryStore {
      override async readAfter(channels: readonly string[], afterSeq: number) {
        const result = await super.readAfter(channels, afterSeq);
        await this.append([5, 6].map((n) => ({ channel: 'b', body: body(n) })));
        return result;
      }
    }
    const store = new BusyStore();
    const epoch = await store.epoch();
    await store.append([{ channel: 'b', body: body(1) }]);
    const plan = await planRecovery(store, ['a', 'b'], { a: 'garbage', b: `${epoch}-1` });
    const events = parse(plan.text);
    expect(events.map((e) => e.event)).toEqual(['stream-reset']);
    // a moved to the head of the read, b still at its own event 1: a composite id, one per channel.
    expect(events[0]!.id).toMatch(new RegExp(`^[0-9a-z]+:${epoch}-1\\.${epoch}-1$`));
    expect(plan.lastIds).toEqual({ a: `${epoch}-0`, b: `${epoch}-1` });
  });

  it('gives each replayed event the position of every channel once Pushpin delivered them apart', async () => {
    const store = new MemoryStore();
    const epoch = await store.epoch();
    await store.append([1, 2, 3, 4].map((n) => ({ channel: n === 3 ? 'b' : 'a', body: body(n) })));
    // The proxy session has b's event 3 but not a's event 2.
    const plan = await planRecovery(store, ['a', 'b'], { a: `${epoch}-1`, b: `${epoch}-3` });
    const events = parse(plan.text);
    expect(events.map((e) => e.data)).toEqual(['2', '4']);
    // After 2 the client has a up to 2 and b up to 3: a plain 2 would replay b's 3 again.
    expect(events[0]!.id).toMatch(new RegExp(`^[0-9a-z]+:${epoch}-2\\.${epoch}-3$`));
    expect(events[1]!.id).toBe(`${epoch}-4`);
  });
});
