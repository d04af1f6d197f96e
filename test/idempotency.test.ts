// publish(channel, event, { idempotencyKey }) on the in-memory history: a repeat within the window
// is neither stored nor delivered again and resolves; the window and the key bound are kept.
// And epochs from any store are checked before they reach an id line.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type EventStore, type EventsOptions, MemoryStore } from '../src/index.js';
import { type EventsFixture, serveEvents } from './helpers/server.js';
import type { SseClient } from './helpers/sse-client.js';

let fx: EventsFixture | undefined;

afterEach(async () => {
  vi.useRealTimers();
  await fx?.close();
  fx = undefined;
});

async function serve(options: EventsOptions = {}): Promise<{ fx: EventsFixture; client: SseClient }> {
  fx = await serveEvents({ keepAlive: false, ...options });
  const client = await fx.open('/?channel=c');
  await client.waitFor((c) => c.named('stream-open').length === 1);
  return { fx, client };
}

const messages = (client: SseClient) => client.named('message').map((m) => m.data);

describe('publish(…, { idempotencyKey })', () => {
  it('a repeat is not stored or delivered again, and resolves; other keys and no key are unaffected', async () => {
    const { fx, client } = await serve();
    await fx.ev.publish('c', { data: 'order 1' }, { idempotencyKey: 'req-1' });
    await fx.ev.publish('c', { data: 'order 1' }, { idempotencyKey: 'req-1' });
    // The same key in one turn (one append) too.
    await Promise.all([
      fx.ev.publish('c', { data: 'order 2' }, { idempotencyKey: 'req-2' }),
      fx.ev.publish('c', { data: 'order 2' }, { idempotencyKey: 'req-2' }),
      fx.ev.publish('c', { data: 'plain' }),
      fx.ev.publish('c', { data: 'plain' }),
    ]);
    await fx.ev.channel('c').publish({ data: 'order 1' }, { idempotencyKey: 'req-1' });
    await fx.ev.publish('c', { data: 'end' });
    await client.waitFor((c) => messages(c).includes('"end"'));
    expect(messages(client)).toEqual(['"order 1"', '"order 2"', '"plain"', '"plain"', '"end"']);
    // Replays hold it once too, with consecutive ids.
    const replay = await fx.open('/?channel=c', {
      accept: 'text/event-stream',
      'last-event-id': `${client.events[0]!.id!.split('-')[0]}-0`,
    });
    await replay.waitFor((c) => messages(c).includes('"end"'));
    expect(replay.named('message').map((m) => Number(m.id!.split('-')[1]))).toEqual([1, 2, 3, 4, 5]);
  });

  it('keys are remembered for the window, then the same key publishes again', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { fx, client } = await serve({ history: { idempotencyWindowMs: 60_000 } });
    await fx.ev.publish('c', { data: 1 }, { idempotencyKey: 'k' });
    vi.setSystemTime(Date.now() + 59_000);
    await fx.ev.publish('c', { data: 1 }, { idempotencyKey: 'k' });
    vi.setSystemTime(Date.now() + 2_000);
    await fx.ev.publish('c', { data: 2 }, { idempotencyKey: 'k' });
    await client.waitFor((c) => messages(c).length === 2);
    expect(messages(client)).toEqual(['1', '2']);
  });

  it('memory stays bounded: beyond maxIdempotencyKeys the oldest keys are forgotten first', async () => {
    const { fx, client } = await serve({ history: { maxIdempotencyKeys: 2 } });
    for (const key of ['a', 'b', 'c']) await fx.ev.publish('c', { data: key }, { idempotencyKey: key });
    // 'a' was forgotten to keep 'c'; 'b' and 'c' are still known.
    for (const key of ['c', 'b', 'a'])
      await fx.ev.publish('c', { data: `${key} again` }, { idempotencyKey: key });
    await client.waitFor((c) => messages(c).length === 4);
    expect(messages(client)).toEqual(['"a"', '"b"', '"c"', '"a again"']);
  });

  it('a bad key, an unknown option, or a key without a history rejects with InvalidOptionError', async () => {
    const { fx } = await serve();
    for (const [options, option] of [
      [{ idempotencyKey: '' }, 'idempotencyKey'],
      [{ idempotencyKey: 'has space' }, 'idempotencyKey'],
      [{ idempotencyKey: 'x'.repeat(201) }, 'idempotencyKey'],
      [{ idempotencyKey: 42 }, 'idempotencyKey'],
      [{ idempotencyKey: 'ok', idempotency: 1 }, 'idempotency'],
      ['req-1', 'options'],
    ] as const) {
      await expect(fx.ev.publish('c', { data: 1 }, options as never)).rejects.toMatchObject({
        code: 'ERR_SSE_INVALID_OPTION',
        option,
      });
    }
    const noHistory = await serveEvents({ history: false, keepAlive: false });
    try {
      await expect(noHistory.ev.publish('c', { data: 1 }, { idempotencyKey: 'k' })).rejects.toMatchObject({
        code: 'ERR_SSE_INVALID_OPTION',
        option: 'idempotencyKey',
      });
    } finally {
      await noHistory.close();
    }
  });
});

describe('epochs from any EventStore', () => {
  /** A store whose epoch is not an epoch: what a broken or hostile store could return. */
  function badEpochStore(): EventStore {
    const inner = new MemoryStore();
    const epoch = 'x\nevent: injected\ndata: 1\n\nid: y';
    return {
      epoch: async () => epoch,
      append: async (items) => ({ ...(await inner.append(items)), epoch }),
      readAfter: async (channels, after, limit) => ({
        ...(await inner.readAfter(channels, after, limit)),
        epoch,
      }),
    };
  }

  it('are refused where they enter: no stream carries them, and publishes reject with ERR_SSE_STORE', async () => {
    fx = await serveEvents({ history: badEpochStore(), keepAlive: false });
    fx.ev.on('error', () => {});
    const client = await fx.open('/?channel=c');
    await client.waitFor((c) => c.ended, 5000, 'the stream to end');
    await expect(fx.ev.publish('c', { data: 1 })).rejects.toMatchObject({ code: 'ERR_SSE_STORE' });
    const resumed = await fx.open('/?channel=c', { accept: 'text/event-stream', 'last-event-id': 'abc-1' });
    await resumed.waitFor((c) => c.ended, 5000, 'the resumed stream to end');
    expect(client.body + resumed.body).not.toContain('injected');
  });
});
