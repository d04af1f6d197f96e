// The pipeline's appends in flight: one at a time, or two where the store says it keeps call order
// (`appendsInOrder`, as the Redis store does); either way the publishes settle, and their events
// are handed on, in publish order, whichever append answers first.
import { describe, expect, it } from 'vitest';
import {
  type AppendItem,
  type AppendOutcome,
  events as createEvents,
  type EventStore,
} from '../src/index.js';
import { until } from './helpers/sse-client.js';

/** A store whose appends answer only when the test says, in any order; seqs assigned in call order. */
function heldStore(appendsInOrder: boolean | undefined) {
  let seq = 0;
  const calls: Array<{ items: readonly AppendItem[]; answer: () => void }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const store: EventStore & { appendsInOrder?: boolean } = {
    epoch: async () => 'e1',
    readAfter: async () => ({ epoch: 'e1', records: [], gaps: [], head: seq, lastSeq: {} }),
    append: (items) => {
      const outcome: AppendOutcome = {
        epoch: 'e1',
        events: items.map(() => {
          seq++;
          return { seq, prevSeq: seq - 1 };
        }),
      };
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise((resolve) => {
        calls.push({
          items,
          answer: () => {
            inFlight--;
            resolve(outcome);
          },
        });
      });
    },
  };
  if (appendsInOrder !== undefined) store.appendsInOrder = appendsInOrder;
  return { store, calls, maxInFlight: () => maxInFlight };
}

async function publishAcrossTurns(appendsInOrder: boolean | undefined) {
  const held = heldStore(appendsInOrder);
  const ev = createEvents({ history: held.store, keepAlive: false });
  const settled: number[] = [];
  const publishes: Promise<void>[] = [];
  const publish = (i: number) =>
    publishes.push(ev.publish('c', { data: i }).then(() => void settled.push(i)));
  publish(1);
  await until(() => held.calls.length === 1, 2000, 'the first append');
  // Published while the first append is in flight: a second one goes out now only if the store
  // keeps call order.
  publish(2);
  await new Promise((resolve) => setImmediate(resolve));
  publish(3);
  return { held, ev, settled, publishes };
}

describe('appends in flight', () => {
  it('two in flight where the store keeps call order; handed on in order when the second answers first', async () => {
    const { held, ev, settled, publishes } = await publishAcrossTurns(true);
    await until(() => held.calls.length === 2, 2000, 'the second append in flight');
    expect(held.calls[0]!.items.map((i) => i.body)).toEqual(['data: 1\n\n']);
    held.calls[1]!.answer();
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toEqual([]); // the second waits for the first
    held.calls[0]!.answer();
    await until(() => held.calls.length === 3 || settled.length === 3, 2000, 'the third');
    if (held.calls.length === 3) held.calls[2]!.answer();
    await Promise.all(publishes);
    expect(settled).toEqual([1, 2, 3]);
    expect(held.maxInFlight()).toBe(2);
    await ev.close();
  });

  it('one at a time otherwise: what is published meanwhile goes together in the next append', async () => {
    const { held, ev, settled, publishes } = await publishAcrossTurns(undefined);
    await new Promise((resolve) => setImmediate(resolve));
    expect(held.calls.length).toBe(1);
    held.calls[0]!.answer();
    await until(() => held.calls.length === 2, 2000, 'the next append');
    expect(held.calls[1]!.items.map((i) => i.body)).toEqual(['data: 2\n\n', 'data: 3\n\n']);
    held.calls[1]!.answer();
    await Promise.all(publishes);
    expect(settled).toEqual([1, 2, 3]);
    expect(held.maxInFlight()).toBe(1);
    await ev.close();
  });
});
