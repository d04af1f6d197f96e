// Property: an event name or id containing CR, LF or NUL is refused on every write path, with a
// typed error, and nothing of it reaches the wire. Write paths: events.publish(), a channel's
// publish() and its Writable side, encodeEvent(); namespaces without history (caller ids
// allowed, a GRIP proxy as a sink), with the memory history, and with Redis as history and bus.
// The wire: subscribers through createHandler (node:http) and fetchHandler (a web stream body),
// and the publish requests the GRIP sink sends. After every refused write a marker event is
// published; at the end each wire must hold the markers and nothing else.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Events,
  type EventsOptions,
  encodeEvent,
  fetchHandler,
  InvalidEventError,
  type WireEvent,
} from '../src/index.js';
import { redis } from '../src/integrations/redis/index.js';
import { type RedisInstance, startRedis } from './helpers/redis.js';
import { type EventsFixture, serveEvents } from './helpers/server.js';
import type { SseClient } from './helpers/sse-client.js';

/** Records the bodies a GRIP sink publishes and answers each with 200. */
interface PublishRecorder {
  url: string;
  /** `content` of every http-stream item, in arrival order. */
  contents: string[];
  close(): Promise<void>;
}

async function publishRecorder(): Promise<PublishRecorder> {
  const contents: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      const parsed = JSON.parse(body) as { items: Array<{ formats: Record<string, { content: string }> }> };
      for (const item of parsed.items) contents.push(item.formats['http-stream']!.content);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('Published\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}?key=k`,
    contents,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A subscriber through fetchHandler: the Response body read as it arrives. */
interface FetchSubscriber {
  text(): string;
  cancel(): Promise<void>;
}

async function fetchSubscriber(ev: Events, channel: string): Promise<FetchSubscriber> {
  const res = await fetchHandler({ events: ev })(
    new Request(`http://app.test/?channel=${channel}`, { headers: { accept: 'text/event-stream' } }),
  );
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  })();
  return { text: () => text, cancel: () => reader.cancel() };
}

interface Setup {
  name: string;
  fx: EventsFixture;
  node: SseClient;
  fetch: FetchSubscriber;
  /** Errors the namespace reported on 'error'. */
  errors: Error[];
  markers: number;
}

const CHANNEL = 'p';
const setups: Setup[] = [];
let redisServer: RedisInstance | undefined;
let recorder: PublishRecorder | undefined;

async function setUp(name: string, options: EventsOptions): Promise<Setup> {
  const fx = await serveEvents({ keepAlive: false, ...options });
  const errors: Error[] = [];
  fx.ev.on('error', (e) => errors.push(e));
  const node = await fx.open(`/?channel=${CHANNEL}`);
  await node.waitFor((c) => c.named('stream-open').length === 1, 10_000, `${name}: stream-open`);
  const fetch = await fetchSubscriber(fx.ev, CHANNEL);
  return { name, fx, node, fetch, errors, markers: 0 };
}

beforeAll(async () => {
  redisServer = await startRedis();
  recorder = await publishRecorder();
  setups.push(
    await setUp('no history, GRIP sink', { history: false, grip: recorder.url, gripRetry: { retries: 0 } }),
    await setUp('memory history', {}),
    await setUp('Redis history and bus', { ...redis(redisServer.url) }),
  );
});

afterAll(async () => {
  for (const s of setups.splice(0)) {
    await s.fetch.cancel();
    await s.fx.close();
  }
  await recorder?.close();
  await redisServer?.stop();
});

// Text around at least one CR, LF or NUL (any Unicode otherwise, lone surrogates included).
const breaker = fc.constantFrom('\r', '\n', '\r\n', '\0', '\n\r');
const around = fc.string({ unit: 'binary', maxLength: 12 });
const tainted = fc
  .tuple(around, breaker, around, fc.option(breaker, { nil: '' }), around)
  .map((parts) => parts.join(''));

/** The event object a caller writes, with the tainted value in `field`. */
const badEvent = fc.record({
  field: fc.constantFrom('event' as const, 'id' as const),
  value: tainted,
  data: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
});

function expectRefusal(err: unknown, field: 'event' | 'id', path: string): void {
  expect(err, path).toBeInstanceOf(InvalidEventError);
  expect((err as InvalidEventError).code, path).toBe('ERR_SSE_INVALID_EVENT');
  expect((err as InvalidEventError).field, path).toBe(field);
  expect((err as Error).message, path).toContain('CR, LF or NUL');
}

/** Each write path's verdict for one event: the error it was refused with, or 'accepted'. */
async function writeOnEveryPath(s: Setup, event: Record<string, unknown>): Promise<Record<string, unknown>> {
  const ev = s.fx.ev;
  const outcome = (p: Promise<void>) =>
    p.then(
      () => 'accepted',
      (e: unknown) => e,
    );
  const channel = ev.channel(CHANNEL);
  const writable = new Promise<unknown>((resolve) => {
    channel.once('publishError', (err) => resolve(err));
    channel.write(event, () => resolve('accepted'));
  });
  return {
    'events.publish()': await outcome(ev.publish(CHANNEL, event as never)),
    'channel.publish()': await outcome(channel.publish(event as never)),
    'channel.write()': await writable,
  };
}

describe('an event name or id with CR, LF or NUL', () => {
  it('is refused on every write path with a typed error, and nothing of it reaches any wire', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(badEvent, async ({ field, value, data }) => {
        runs++;
        const event = { [field]: value, data };
        let thrown: unknown;
        try {
          encodeEvent(event as WireEvent);
        } catch (e) {
          thrown = e;
        }
        expectRefusal(thrown, field, 'encodeEvent()');
        for (const s of setups) {
          const errorsBefore = s.errors.length;
          const verdicts = await writeOnEveryPath(s, event);
          for (const [path, verdict] of Object.entries(verdicts))
            expectRefusal(verdict, field, `${s.name}: ${path}`);
          // Each refused publish is reported once on 'error', with the same typed error.
          const reported = s.errors.slice(errorsBefore);
          expect(reported, s.name).toHaveLength(3);
          for (const e of reported) expectRefusal(e, field, `${s.name}: 'error' event`);
          // A marker after the refused writes: the wires are checked against the markers alone.
          await s.fx.ev.publish(CHANNEL, { event: 'marker', data: s.markers++ });
        }
      }),
      { numRuns: 100 },
    );
    expect(runs).toBe(100);

    for (const s of setups) {
      const markers = Array.from({ length: s.markers }, (_, i) => String(i));
      await s.node.waitFor((c) => c.named('marker').length === s.markers, 10_000, `${s.name}: markers`);
      // Everything after stream-open is a marker: no refused event, nor any of its text.
      expect(s.node.events.map((e) => e.event)).toEqual(['stream-open', ...markers.map(() => 'marker')]);
      expect(s.node.named('marker').map((e) => e.data)).toEqual(markers);
      const nodeAfterOpen = s.node.body.slice(s.node.body.indexOf('\n\n') + 2);
      expect(
        nodeAfterOpen
          .split('\n\n')
          .filter((b) => b !== '' && !/^(id: \S+\n)?event: marker\ndata: \d+$/.test(b)),
        s.name,
      ).toEqual([]);
      const fetchBlocks = () =>
        s.fetch
          .text()
          .split('\n\n')
          .filter((b) => b !== '');
      await expect.poll(() => fetchBlocks().length, { timeout: 10_000, interval: 5 }).toBe(s.markers + 1);
      expect(
        fetchBlocks()
          .slice(1)
          .filter((b) => !/^(id: \S+\n)?event: marker\ndata: \d+$/.test(b)),
        s.name,
      ).toEqual([]);
    }
    // The GRIP sink published the markers and nothing else.
    const gripMarkers = setups[0]!.markers;
    await expect.poll(() => recorder!.contents.length, { timeout: 10_000, interval: 5 }).toBe(gripMarkers);
    expect(recorder!.contents).toEqual(
      Array.from({ length: gripMarkers }, (_, i) => `event: marker\ndata: ${i}\n\n`),
    );
  }, 120_000);
});
