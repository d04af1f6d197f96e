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

  it('never gives a reset an id older than an event replayed before it', async () => {
    // Events are published on b while a is being read.
    class BusyStore extends MemoryStore {
      override async readAfter(channels: readonly string[], afterSeq: number) {
        const result = await super.readAfter(channels, afterSeq);
        if (channels[0] === 'a') await this.append([5, 6].map((n) => ({ channel: 'b', body: body(n) })));
        return result;
      }
    }
    const store = new BusyStore();
    const epoch = await store.epoch();
    await store.append([{ channel: 'b', body: body(1) }]);
    const plan = await planRecovery(store, ['a', 'b'], { a: 'garbage', b: `${epoch}-1` });
    const seqs = parse(plan.text).map((e) => Number(e.id!.split('-')[1]));
    expect(parse(plan.text).map((e) => e.event)).toEqual(['n', 'n', 'stream-reset']);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  });
});
