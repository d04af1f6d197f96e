// The browser client's types (checked by `npm run typecheck`: every `@ts-expect-error` must mark
// a real error) and its behaviour outside a browser: argument validation, and a stream in Node
// through the `eventsource` package passed as options.EventSource. The browser behaviour
// (reloads, state, stream-error) is tested in Chromium: test/browser/client.test.ts.
import { EventSource as NodeEventSource } from 'eventsource';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  type ConnectionState,
  connect,
  type EventDetails,
  type EventStreamClient,
  type ResetReason,
  type StreamError,
} from '../src/client/index.js';
import { createHandler, type Events, events } from '../src/index.js';
import { startServer, type TestServer } from './helpers/server.js';

// One event map, shared by the server and the client.
interface AppEvents {
  time: { value: string };
  message: { text: string };
  log: string;
}

/** Never called: only compiled. */
function typeChecks(server: Events<AppEvents>): void {
  void server.publish('clock', { event: 'time', data: { value: 'now' } });
  const client = connect<AppEvents>('/events/', {
    channels: ['clock'],
    raw: ['log'],
    on: {
      time: (data, details) => {
        expectTypeOf(data).toEqualTypeOf<{ value: string }>();
        expectTypeOf(details).toEqualTypeOf<EventDetails<'time'>>();
      },
      log: (data) => expectTypeOf(data).toEqualTypeOf<string>(),
    },
    onReset: (channels, reason) => {
      expectTypeOf(channels).toEqualTypeOf<string[]>();
      expectTypeOf(reason).toEqualTypeOf<ResetReason>();
    },
    onError: (error) => expectTypeOf(error).toEqualTypeOf<StreamError>(),
    onStateChange: (state) => expectTypeOf(state).toEqualTypeOf<ConnectionState>(),
  });
  expectTypeOf(client).toEqualTypeOf<EventStreamClient<AppEvents>>();
  // @ts-expect-error: the data of message is { text: string }
  connect<AppEvents>('/events/', { on: { message: (data: { value: string }) => data } });
  // @ts-expect-error: not in the event map
  connect<AppEvents>('/events/', { on: { unknown: () => {} } });
  const off = client.on('message', (data) => expectTypeOf(data.text).toBeString());
  expectTypeOf(off).toEqualTypeOf<() => void>();
  // @ts-expect-error: protocol events are the client's own
  client.on('stream-open', () => {});
  // @ts-expect-error: wrong data type for the name
  client.on('time', (data: number) => data);
  // @ts-expect-error: raw lists event names of the map
  connect<AppEvents>('/events/', { raw: ['nope'] });
  // Without a map, any name and unknown data.
  connect('/events/').on('anything', (data) => expectTypeOf(data).toBeUnknown());
}
void typeChecks;

describe('connect() outside a browser', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('refuses invalid arguments with a TypeError', () => {
    // Node 20 has no global EventSource.
    expect(() => connect('http://127.0.0.1:1/events/')).toThrow(/no EventSource/);
    const EventSource = NodeEventSource;
    expect(() => connect('http://127.0.0.1:1/', { EventSource, channels: [''] })).toThrow(TypeError);
    expect(() => connect('http://127.0.0.1:1/', { EventSource, channels: 'a' as never })).toThrow(TypeError);
    expect(() => connect('http://127.0.0.1:1/', { EventSource, retry: { minDelayMs: 0 } })).toThrow(
      TypeError,
    );
    expect(() =>
      connect('http://127.0.0.1:1/', { EventSource, retry: { minDelayMs: 10, maxDelayMs: 5 } }),
    ).toThrow(TypeError);
    expect(() =>
      connect('http://127.0.0.1:1/', { EventSource, on: { 'keep-alive': () => {} } as never }),
    ).toThrow(TypeError);
  });

  async function serve(): Promise<{ ev: Events<AppEvents>; server: TestServer }> {
    const ev = events<AppEvents>({ keepAlive: false });
    const server = await startServer(createHandler({ events: ev }));
    cleanups.push(
      () => ev.close(),
      () => server.close(),
    );
    return { ev, server };
  }

  it('streams typed events in Node with an EventSource passed in, without persisting', async () => {
    const { ev, server } = await serve();
    const received: Array<[string, unknown]> = [];
    const seen: ConnectionState[] = [];
    const client = connect<AppEvents>(server.url('/'), {
      EventSource: NodeEventSource,
      channels: ['clock', 'log'],
      raw: ['log'],
      on: {
        time: (data, d) => received.push([d.event, data]),
        log: (data, d) => received.push([d.event, data]),
      },
      onStateChange: (state) => seen.push(state),
    });
    cleanups.push(() => client.close());
    expect(client.state).toBe('connecting');
    await expect.poll(() => client.state, { timeout: 5_000 }).toBe('open');
    await ev.publish('clock', { event: 'time', data: { value: 'now' } });
    await ev.publish('log', { event: 'log', data: '{not json', raw: true });
    await expect.poll(() => received.length, { timeout: 5_000 }).toBe(2);
    expect(received).toEqual([
      ['time', { value: 'now' }],
      ['log', '{not json'],
    ]);
    expect(client.lastEventId).toMatch(/^[0-9a-z]+-\d+$/);
    client.close();
    expect(seen).toEqual(['open', 'closed']);
    await expect.poll(() => ev.stats().connections, { timeout: 5_000 }).toBe(0);
  });

  it('stops on stream-error with the server reason', async () => {
    const { server } = await serve();
    const errors: StreamError[] = [];
    const client = connect(server.url('/'), {
      EventSource: NodeEventSource,
      channels: ['a;b'],
      onError: (e) => errors.push(e),
    });
    await expect.poll(() => client.state, { timeout: 5_000 }).toBe('error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.condition).toBe('bad-request');
    expect(client.error).toBe(errors[0]);
  });
});
