// events.channel(name): the object-mode Writable. Piping, backpressure (local and from a slow
// sink), resilience to bad events, name validation, and channel.publish().
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Channel,
  events as createEvents,
  createHandler,
  type EncodedEvent,
  type EventInput,
  type Events,
  InvalidChannelError,
  InvalidEventError,
} from '../src/index.js';
import { serveEvents, startServer, type TestServer } from './helpers/server.js';
import { connect, type SseClient, until } from './helpers/sse-client.js';

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Fixture {
  ev: Events;
  server: TestServer;
  client(channel: string): Promise<SseClient>;
}

async function setup(): Promise<Fixture> {
  // History off: the tests number events with their own ids to check order.
  const fx = await serveEvents({ keepAlive: false, history: false });
  cleanups.push(() => fx.close());
  return {
    ev: fx.ev,
    server: fx.server,
    async client(channel) {
      const c = await fx.open(`/?channel=${encodeURIComponent(channel)}`);
      await c.waitFor((x) => x.named('stream-open').length === 1, 5000, 'stream-open');
      return c;
    },
  };
}

function ticks(n: number, event = 'tick'): EventInput[] {
  return Array.from({ length: n }, (_, i) => ({ event, id: String(i), data: { i } }));
}

function idsOf(c: SseClient, event = 'tick'): string[] {
  return c.named(event).map((e) => e.id ?? '');
}

function range(n: number): string[] {
  return Array.from({ length: n }, (_, i) => String(i));
}

describe('piping into a channel', () => {
  it('readable.pipe(events.channel(name)) delivers every event in order', async () => {
    const fx = await setup();
    const c = await fx.client('clock');
    const other = await fx.client('other');
    const channel = fx.ev.channel('clock');
    expect(channel).toBeInstanceOf(Channel);
    expect(channel.name).toBe('clock');
    expect(channel.writableObjectMode).toBe(true);

    Readable.from(ticks(500)).pipe(channel);
    await once(channel, 'finish');
    await c.waitFor((x) => x.named('tick').length === 500, 10_000, '500 ticks');
    expect(idsOf(c)).toEqual(range(500));
    expect(c.named('tick')[499]!.data).toBe('{"i":499}');
    expect(other.named('tick')).toHaveLength(0);
    expect(fx.ev.stats().eventsPublished).toBe(500);
  });

  it('with the default history, piped events arrive in order with increasing ids', async () => {
    const ev = createEvents({ keepAlive: false });
    const server = await startServer(createHandler({ events: ev }));
    const c = await connect(server.url('/?channel=clock'));
    cleanups.push(async () => {
      c.close();
      await ev.close();
      await server.close();
    });
    await c.waitFor((x) => x.named('stream-open').length === 1, 5000, 'stream-open');
    const input = Array.from({ length: 300 }, (_, i) => ({ event: 'tick', data: i }));
    await pipeline(Readable.from(input), ev.channel('clock'));
    await c.waitFor((x) => x.named('tick').length === 300, 10_000, '300 ticks');
    expect(c.named('tick').map((e) => Number(e.data))).toEqual(input.map((e) => e.data));
    const seqs = c.named('tick').map((e) => Number((e.id ?? '').split('-')[1]));
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
  });

  it('applies backpressure: write() returns false, drain follows, and a large pipeline completes', async () => {
    const fx = await setup();
    const c = await fx.client('bulk');
    const channel = fx.ev.channel('bulk');
    let accepted = 0;
    let refusedAt = -1;
    for (const ev of ticks(1000)) {
      accepted++;
      if (!channel.write(ev)) {
        refusedAt = accepted;
        break;
      }
    }
    expect(refusedAt).toBeGreaterThan(0);
    expect(refusedAt).toBeLessThan(1000);
    expect(channel.writableNeedDrain).toBe(true);
    await once(channel, 'drain');
    expect(channel.writableLength).toBe(0);
    await c.waitFor((x) => x.named('tick').length === accepted, 5000, 'written ticks');

    // A generator far larger than the buffer: the pipeline paces it and completes.
    const total = 20_000;
    let generated = 0;
    let maxBuffered = 0;
    const source = Readable.from(
      (function* () {
        for (let i = accepted; i < total; i++) {
          generated++;
          maxBuffered = Math.max(maxBuffered, channel.writableLength);
          yield { event: 'tick', id: String(i), data: { i } };
        }
      })(),
    );
    await pipeline(source, channel);
    expect(generated).toBe(total - accepted);
    // Never more than the channel's high-water mark waiting in it.
    expect(maxBuffered).toBeLessThanOrEqual(channel.writableHighWaterMark);
    await c.waitFor((x) => x.named('tick').length === total, 15_000, `${total} ticks`);
    expect(idsOf(c)).toEqual(range(total));
  });

  it('a slow sink throttles the writer without delaying local delivery', async () => {
    const fx = await setup();
    const c = await fx.client('proxied');
    let sunk = 0;
    let holding = true;
    const held: Array<() => void> = [];
    fx.ev.addSink({
      publish(batch: readonly EncodedEvent[]) {
        sunk += batch.length;
        if (!holding) return Promise.resolve();
        return new Promise<void>((resolve) => held.push(resolve));
      },
    });
    const channel = fx.ev.channel('proxied');
    let finished = false;
    const done = pipeline(Readable.from(ticks(3000)), channel).then(() => {
      finished = true;
    });
    // Local subscribers get events while the sink holds them all.
    await c.waitFor((x) => x.named('tick').length >= 1000, 10_000, 'local delivery while the sink stalls');
    // Writes stall once about 1,000 events wait for the sink: the channel refuses more, and
    // every event the sink took has reached the local client, while the producer does not run
    // ahead of the bound.
    const bound = 1000 + 2 * channel.writableHighWaterMark;
    await until(() => sunk > 1000 && channel.writableNeedDrain, 10_000, 'the writer to stall');
    await c.waitFor((x) => x.named('tick').length === sunk, 10_000, 'local delivery of what the sink took');
    expect(finished).toBe(false);
    expect(sunk).toBeLessThanOrEqual(bound);
    expect(c.named('tick').length).toBe(sunk);

    holding = false;
    for (const release of held.splice(0)) release();
    await done;
    expect(sunk).toBe(3000);
    await c.waitFor((x) => x.named('tick').length === 3000, 10_000, 'all 3000 ticks');
    expect(idsOf(c)).toEqual(range(3000));
  });
});

describe('errors never break the stream', () => {
  it('a bad event in a piped stream emits publishError and later events still arrive', async () => {
    const fx = await setup();
    const c = await fx.client('mixed');
    const channel = fx.ev.channel('mixed');
    const failures: Array<[Error, unknown]> = [];
    channel.on('publishError', (err, event) => failures.push([err, event]));
    let streamError: Error | undefined;
    channel.on('error', (err) => {
      streamError = err;
    });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const badName = { event: 'bad\nname', data: 1 };
    const badData = { event: 'tick', id: 'x', data: circular };
    const input = [
      ...ticks(3),
      badName,
      { event: 'tick', id: '3', data: 3 },
      badData,
      { event: 'tick', id: '4', data: 4 },
      { event: 'tick', id: '5', retry: -5 },
      { event: 'tick', id: '6', data: 6 },
    ] as EventInput[];

    // end: false keeps the channel open after the source ends, to show it is still usable.
    const source = Readable.from(input);
    source.pipe(channel, { end: false });
    await once(source, 'end');
    await c.waitFor((x) => x.named('tick').length === 6, 5000, 'the good events');
    expect(idsOf(c)).toEqual(['0', '1', '2', '3', '4', '6']);
    await until(() => failures.length === 3, 5000, 'three publishError events');
    expect(failures.map(([err]) => err.constructor.name)).toEqual([
      'InvalidEventError',
      'DataSerializationError',
      'InvalidEventError',
    ]);
    expect(failures[0]![1]).toBe(badName);
    expect(failures[1]![1]).toBe(badData);
    expect((failures[2]![0] as InvalidEventError).field).toBe('retry');
    expect(streamError).toBeUndefined();
    expect(channel.destroyed).toBe(false);
    expect(channel.errored).toBeNull();
    expect(channel.writable).toBe(true);
    channel.end({ event: 'tick', id: '7', data: 7 });
    await once(channel, 'finish');
    await c.waitFor((x) => x.named('tick').length === 7, 5000, 'an event after the failures');
    expect(streamError).toBeUndefined();
    expect(channel.errored).toBeNull();
  });

  it('stays writable after a rejected write and after a sink failure', async () => {
    const fx = await setup();
    const c = await fx.client('resilient');
    let failNext = true;
    fx.ev.addSink({
      publish() {
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('proxy down'));
        }
        return Promise.resolve();
      },
    });
    const channel = fx.ev.channel('resilient');
    const failures: Error[] = [];
    channel.on('publishError', (err) => failures.push(err));

    channel.write({ event: 'tick', id: '0', data: 0 }); // delivered locally; the sink rejects it
    await until(() => failures.length === 1, 5000, 'sink failure reported');
    expect(failures[0]!.message).toBe('proxy down');
    channel.write({ event: 'oops\r', data: 1 });
    await until(() => failures.length === 2, 5000, 'invalid event reported');
    expect(failures[1]).toBeInstanceOf(InvalidEventError);
    expect(channel.writable).toBe(true);
    expect(channel.destroyed).toBe(false);
    expect(channel.errored).toBeNull();
    channel.write({ event: 'tick', id: '1', data: 1 });
    channel.end({ event: 'tick', id: '2', data: 2 });
    await once(channel, 'finish');
    await c.waitFor((x) => x.named('tick').length === 3, 5000, 'ticks after the failures');
    expect(idsOf(c)).toEqual(['0', '1', '2']);
    expect(failures).toHaveLength(2);
    expect(channel.errored).toBeNull();
  });
});

describe('channel objects', () => {
  it('an invalid channel name throws InvalidChannelError synchronously', async () => {
    const fx = await setup();
    for (const name of ['', 'a,b', 'a;b', 'line\nbreak', 'nul\0', ' padded', 'x'.repeat(129)]) {
      expect(() => fx.ev.channel(name), JSON.stringify(name)).toThrow(InvalidChannelError);
    }
    try {
      fx.ev.channel('a,b');
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'ERR_SSE_INVALID_CHANNEL', channel: 'a,b' });
    }
    expect(() => fx.ev.channel('x'.repeat(128))).not.toThrow();
  });

  it('channel.publish() publishes on its channel; each channel() call is an independent writer', async () => {
    const fx = await setup();
    const c = await fx.client('news');
    const first = fx.ev.channel('news');
    const second = fx.ev.channel('news');
    expect(second).not.toBe(first);
    await expect(first.publish({ event: 'story', id: 'a', data: { n: 1 } })).resolves.toBeUndefined();
    await c.waitFor((x) => x.named('story').length === 1, 5000, 'published story');
    expect(c.named('story')[0]).toEqual({ event: 'story', id: 'a', data: '{"n":1}' });
    await expect(first.publish({ event: 'x\ny' })).rejects.toBeInstanceOf(InvalidEventError);

    // Ending one writer leaves another for the same channel usable.
    first.end();
    await once(first, 'finish');
    second.write({ event: 'story', id: 'b', data: { n: 2 } });
    await c.waitFor((x) => x.named('story').length === 2, 5000, 'second writer');
    await second.publish({ event: 'story', id: 'c', data: { n: 3 } });
    await c.waitFor((x) => x.named('story').length === 3, 5000, 'second writer publish');
    expect(idsOf(c, 'story')).toEqual(['a', 'b', 'c']);
  });
});
