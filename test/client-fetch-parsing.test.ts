// The fetch transport of the browser client (the BUILT package, `express-eventstream/client`)
// parses the event stream by the WHATWG rules. Property: for any stream of fields (data, event,
// id with and without NUL, retry valid or not, comments, unknown fields, fields without a colon),
// any line endings (CR, LF, CRLF), an optional byte order mark and any split into chunks (also
// inside a CRLF or a UTF-8 sequence), the handlers see exactly the events an independent parser
// (eventsource-parser) finds, with the spec's last event id, and the reconnection waits the last
// valid `retry:`. The body is a real ReadableStream in a real Response; only the fetch is handed in.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';

type Client = typeof import('../src/client/index.js');
// The built package, resolved by name as a user's bundler would.
const specifier = 'express-eventstream/client';
const { connect } = (await import(specifier)) as Client;

const NAMES = ['', 'message', 'a', 'é ü', 'x:y'];
const value = fc.string({ unit: fc.constantFrom('a', 'b', ' ', ':', 'é', '😀', '\0', '-', '1') });
const dataLine = value.map((v) => `data:${v}`);
const otherLine = fc.oneof(
  fc.constantFrom(...NAMES).map((n) => `event: ${n}`),
  fc.oneof(value, fc.constantFrom('e1-1', 'e1-2', 'x\0y')).map((v) => `id: ${v}`),
  fc.oneof(fc.nat(5000).map(String), fc.constantFrom('1a', '-5', '', ' 7', '3.5')).map((v) => `retry: ${v}`),
  value.map((v) => `:${v}`),
  value.map((v) => `unknown: ${v}`),
  fc.constantFrom('data', 'event', 'id', 'retry'),
);
// A block with data dispatches an event. Ids only go in such blocks: eventsource-parser drops the
// id of a block without data, where the spec keeps it for the next event.
const eventBlock = fc
  .tuple(fc.array(otherLine, { maxLength: 4 }), fc.array(dataLine, { minLength: 1, maxLength: 3 }))
  .chain(([others, data]) =>
    fc.shuffledSubarray([...others, ...data], { minLength: others.length + data.length }),
  );
const idle = fc.array(
  otherLine.filter((l) => !l.startsWith('id')),
  { maxLength: 3 },
);
const stream = fc.record({
  blocks: fc.array(fc.oneof(eventBlock, idle), { maxLength: 8 }),
  endings: fc.array(fc.constantFrom('\n', '\r', '\r\n'), { minLength: 1, maxLength: 5 }),
  bom: fc.boolean(),
  cuts: fc.array(fc.nat(), { maxLength: 8 }),
});

interface Expected {
  events: Array<{ event: string; id: string | undefined; rawData: string }>;
  retry: number;
}

function reference(text: string): Expected {
  const events: Expected['events'] = [];
  let id: string | undefined;
  let retry = 3000;
  const parser = createParser({
    onEvent: (e: EventSourceMessage) => {
      if (e.id !== undefined) id = e.id;
      events.push({ event: e.event ?? 'message', id: id || undefined, rawData: e.data });
    },
    onRetry: (ms) => {
      retry = ms;
    },
  });
  parser.feed(text);
  return { events, retry };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('fetch transport parsing', () => {
  it('finds the events and retry of an independent parser, for any line endings, BOM and chunking', async () => {
    await fc.assert(
      fc.asyncProperty(stream, async ({ blocks, endings, bom, cuts }) => {
        let n = 0;
        const eol = () => endings[n++ % endings.length]!;
        // Every block ends with an empty line; a CR ending the stream would wait for an LF forever.
        const text = `${blocks.map((lines) => lines.map((l) => l + eol()).join('') + eol()).join('')}\n`;
        const expected = reference(text);
        const bytes = new TextEncoder().encode((bom ? '\uFEFF' : '') + text);
        const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...at].map((start, i) => bytes.slice(start, [...at, bytes.length][i]));

        vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
        let calls = 0;
        // The first body ends after its chunks; the reconnection's stays open.
        const fetch = async () => {
          const first = ++calls === 1;
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              if (!first) return;
              for (const chunk of chunks) controller.enqueue(chunk);
              controller.close();
            },
          });
          return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
        };
        const seen: Expected['events'] = [];
        const record = (_: unknown, d: { event: string; id: string | undefined; rawData: string }) =>
          seen.push({ event: d.event, id: d.id, rawData: d.rawData });
        let reconnecting = () => {};
        const ended = new Promise<void>((resolve) => {
          reconnecting = resolve;
        });
        const client = connect('http://example.test/events/', {
          fetch,
          transport: 'fetch',
          persist: false,
          raw: NAMES.filter(Boolean),
          on: Object.fromEntries(NAMES.filter(Boolean).map((name) => [name, record])),
          onStateChange: (state) => {
            if (state === 'reconnecting') reconnecting();
          },
        });
        // The first body ended: the client says `reconnecting`.
        await ended;
        expect(seen).toEqual(expected.events);
        // It reconnects after the last valid retry, not a millisecond before.
        if (expected.retry > 0) {
          vi.advanceTimersByTime(expected.retry - 1);
          await Promise.resolve();
          expect(calls).toBe(1);
        }
        vi.advanceTimersByTime(1);
        await vi.waitFor(() => expect(calls).toBe(2));
        client.close();
        vi.useRealTimers();
      }),
      { numRuns: 150 },
    );
  });
});
