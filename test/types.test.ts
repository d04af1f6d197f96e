// Type-level tests. `npx tsc -p tsconfig.json --noEmit` checks them: every `@ts-expect-error`
// must mark a real error, and every `expectTypeOf` must hold. The runtime part is small.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type Channel,
  createHandler,
  type EventInput,
  type EventStreamHandler,
  type EventStreamMiddleware,
  type Events,
  type EventsStats,
  events,
  express,
  InvalidEventError,
  type PublishOptions,
} from '../src/index.js';

// Event maps may be interfaces or type aliases.
interface AppEvents {
  time: { value: string };
  message: { text: string };
}

type NoMessage = {
  tick: number;
};

/** Never called: only compiled. Publishing here would need live objects. */
function typeChecks(ev: Events<AppEvents>, loose: Events, strict: Events<NoMessage>): void {
  // Declared events with their data type.
  void ev.publish('c', { event: 'time', data: { value: 'x' } });
  void ev.publish('c', { event: 'time', data: { value: 'x' }, id: '1', retry: 10 });
  void ev.publish('c', { event: 'time' }); // data is optional
  void ev.publish('c', { event: 'message', data: { text: 'hi' } });
  void ev.publish('c', { data: { text: 'hi' } }); // no name: 'message'

  // @ts-expect-error wrong data type for 'time'
  void ev.publish('c', { event: 'time', data: { value: 1 } });
  // @ts-expect-error data of another event
  void ev.publish('c', { event: 'time', data: { text: 'hi' } });
  // @ts-expect-error unknown event name
  void ev.publish('c', { event: 'nope', data: { value: 'x' } });
  // @ts-expect-error retry must be a number
  void ev.publish('c', { event: 'time', data: { value: 'x' }, retry: 'x' });
  // @ts-expect-error id must be a string
  void ev.publish('c', { event: 'time', data: { value: 'x' }, id: 1 });
  // @ts-expect-error an unnamed event carries message data
  void ev.publish('c', { data: { value: 'x' } });
  // @ts-expect-error unknown field
  void ev.publish('c', { event: 'time', data: { value: 'x' }, colour: 'red' });
  // @ts-expect-error the channel is a string
  void ev.publish(1, { event: 'time', data: { value: 'x' } });

  // A map without 'message' has no unnamed events.
  void strict.publish('c', { event: 'tick', data: 1 });
  // @ts-expect-error no 'message' in the map
  void strict.publish('c', { data: 1 });
  // @ts-expect-error tick data is a number
  void strict.publish('c', { event: 'tick', data: '1' });

  // The default map accepts any name and any data.
  void loose.publish('c', { event: 'anything', data: { deep: [1, 'two', null] } });
  void loose.publish('c', { data: 'unnamed' });
  void loose.publish('c', { event: 'n', data: 1n });
  void loose.publish('c', {});
  // @ts-expect-error retry must be a number even with the default map
  void loose.publish('c', { event: 'n', retry: 'soon' });

  // channel(name).publish is typed the same way.
  const clock = ev.channel('clock');
  void clock.publish({ event: 'time', data: { value: 'x' } });
  // @ts-expect-error wrong data type
  void clock.publish({ event: 'time', data: { value: 1 } });
  // @ts-expect-error unknown event name
  void clock.publish({ event: 'nope' });
  // @ts-expect-error retry must be a number
  void clock.publish({ event: 'time', retry: 'x' });
  void loose.channel('any').publish({ event: 'whatever', data: Symbol.iterator });

  // Handler options.
  // @ts-expect-error events is required
  createHandler({});
  // @ts-expect-error retry is a number or a range
  createHandler({ events: ev, retry: '1s' });
  createHandler({ events: ev, retry: { minDelayMs: 1000, maxDelayMs: 5000 } });
  // @ts-expect-error a range has both ends
  createHandler({ events: ev, retry: { minDelayMs: 1000 } });
  // @ts-expect-error authorize returns a boolean
  createHandler({ events: ev, authorize: () => 'yes' });
}

describe('types', () => {
  it('events<Map>() types publish() and channel().publish() by the map', () => {
    const ev = events<AppEvents>();
    expectTypeOf(ev).toEqualTypeOf<Events<AppEvents>>();
    expectTypeOf(events()).toEqualTypeOf<Events>();
    expectTypeOf(ev.publish).parameter(0).toEqualTypeOf<string>();
    expectTypeOf(ev.publish).parameter(1).toEqualTypeOf<EventInput<AppEvents>>();
    expectTypeOf(ev.publish).returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf(ev.channel).returns.toEqualTypeOf<Channel<AppEvents>>();
    expectTypeOf(ev.channel('x').publish).parameters.toEqualTypeOf<
      [EventInput<AppEvents>, PublishOptions?]
    >();
    expectTypeOf(ev.publish).parameter(2).toEqualTypeOf<PublishOptions | undefined>();
    expectTypeOf(ev.channel('x').publish).returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<{ event: 'time'; data: { value: string } }>().toExtend<EventInput<AppEvents>>();
    expectTypeOf<{ event: 'time'; data: { value: number } }>().not.toExtend<EventInput<AppEvents>>();
    expectTypeOf<{ event: 'nope' }>().not.toExtend<EventInput<AppEvents>>();
    expectTypeOf<{ event: 'x'; data: bigint }>().toExtend<EventInput>();
    expectTypeOf(ev.stats()).toEqualTypeOf<EventsStats>();
    expectTypeOf(ev.stats().subscribers).toEqualTypeOf<Record<string, number>>();
    void ev.close();
  });

  it('handlers and middleware have their documented shapes', () => {
    const ev = events<AppEvents>({ keepAlive: false });
    const handler = createHandler({ events: ev, authorize: (_req, channels) => channels.length < 3 });
    expectTypeOf(handler).toEqualTypeOf<EventStreamHandler>();
    const middleware = express({ events: ev, retry: 1000 });
    expectTypeOf(middleware).toEqualTypeOf<EventStreamMiddleware>();
    expectTypeOf(middleware).parameter(0).toExtend<IncomingMessage>();
    expectTypeOf(middleware).parameter(1).toEqualTypeOf<ServerResponse>();
    expectTypeOf(new InvalidEventError('id', 'x').code).toEqualTypeOf<'ERR_SSE_INVALID_EVENT'>();
    expectTypeOf(new InvalidEventError('id', 'x').field).toEqualTypeOf<string>();
    expect(typeof handler).toBe('function');
    expect(typeof middleware).toBe('function');
    void ev.close();
  });

  it('typed publishing behaves the same at run time', async () => {
    expect(typeof typeChecks).toBe('function');
    const ev = events<AppEvents>({ keepAlive: false });
    await expect(ev.publish('c', { event: 'time', data: { value: 'x' } })).resolves.toBeUndefined();
    await expect(ev.channel('c').publish({ data: { text: 'hi' } })).resolves.toBeUndefined();
    // Types are compile-time only: a cast-through bad event is still rejected at run time.
    const bad = { event: 'time', retry: 'x' } as unknown as EventInput<AppEvents>;
    await expect(ev.publish('c', bad)).rejects.toBeInstanceOf(InvalidEventError);
    expect(ev.stats()).toMatchObject({ eventsPublished: 2, publishErrors: 1 });
    await ev.close();
  });
});
