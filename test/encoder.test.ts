import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encode } from '../src/core/pending-event.js';
import { encodeComment, encodeEvent, InvalidEventError } from '../src/index.js';

describe('encodeEvent: exact wire text', () => {
  it('writes event, id, retry and data lines in that order, ending in a blank line', () => {
    expect(encodeEvent({ event: 'time', id: '7', retry: 1500, data: '{"a":1}' })).toBe(
      'event: time\nid: 7\nretry: 1500\ndata: {"a":1}\n\n',
    );
  });

  it('splits data on LF, CR and CRLF into separate data lines', () => {
    expect(encodeEvent({ data: 'a\nb\rc\r\nd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n');
  });

  it('keeps empty lines inside data and a trailing line break', () => {
    expect(encodeEvent({ data: 'a\n\nb\n' })).toBe('data: a\ndata:\ndata: b\ndata:\n\n');
  });

  it('sends one empty data line when there is no data, so clients still dispatch the event', () => {
    expect(encodeEvent({ event: 'ping' })).toBe('event: ping\ndata:\n\n');
  });

  it('writes retry: 0 and an empty id (which resets the client last event id)', () => {
    expect(encodeEvent({ id: '', retry: 0, data: 'x' })).toBe('id:\nretry: 0\ndata: x\n\n');
  });

  it('keeps a leading space of a value (the parser strips exactly one)', () => {
    expect(encodeEvent({ data: ' x' })).toBe('data:  x\n\n');
  });

  it.each([
    ['event with LF', { event: 'a\nb' }, 'event'],
    ['event with lone CR', { event: 'a\rdata: injected' }, 'event'],
    ['empty event name', { event: '' }, 'event'],
    ['id with LF', { id: '1\nevent: x' }, 'id'],
    ['id with CR', { id: '1\r' }, 'id'],
    ['id with NUL', { id: 'a\0b' }, 'id'],
    ['negative retry', { retry: -1 }, 'retry'],
    ['fractional retry', { retry: 1.5 }, 'retry'],
    ['NaN retry', { retry: Number.NaN }, 'retry'],
  ])('rejects %s with InvalidEventError', (_name, ev, field) => {
    let caught: unknown;
    try {
      encodeEvent(ev);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidEventError);
    expect((caught as InvalidEventError).code).toBe('ERR_SSE_INVALID_EVENT');
    expect((caught as InvalidEventError).field).toBe(field);
  });

  it('turns line breaks in a comment into separate comment lines', () => {
    expect(encodeComment('a\nevent: x')).toBe(':a\n:event: x\n\n');
  });
});

interface Published {
  event?: string;
  id?: string;
  retry?: number;
  data: string;
}

/** Parse `text` fed in the given chunk sizes with an independent, spec-following parser. */
function parse(text: string, cuts: number[]): { events: EventSourceMessage[]; retries: number[] } {
  const events: EventSourceMessage[] = [];
  const retries: number[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e), onRetry: (r) => retries.push(r) });
  let at = 0;
  for (const cut of cuts) {
    const end = Math.min(text.length, at + cut);
    parser.feed(text.slice(at, end));
    at = end;
  }
  parser.feed(text.slice(at));
  return { events, retries };
}

// Any Unicode text except lone surrogates (not encodable as UTF-8), rich in line breaks.
const text = fc.string({
  unit: fc.oneof(
    { weight: 5, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
    { weight: 2, arbitrary: fc.constantFrom('\n', '\r', '\r\n', '\0', ':', ' ', '\u2028', '\ufeff') },
  ),
  maxLength: 40,
});
const lineFree = text.map((s) => s.replace(/[\r\n]/g, ''));
const eventArb = fc.record(
  {
    // NUL is refused in names as in ids.
    event: lineFree.map((s) => s.replace(/\0/g, '')).filter((s) => s.length > 0),
    id: lineFree.map((s) => s.replace(/\0/g, '')),
    retry: fc.nat({ max: 1_000_000 }),
    data: text,
  },
  { requiredKeys: ['data'] },
);

describe('round trip through eventsource-parser (property)', () => {
  it('gets back exactly the published events, whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat({ max: 17 })),
        (evs, cuts) => {
          const wire = evs.map((e: Published) => encodeEvent(e)).join('');
          // A stream's bytes go through UTF-8; decode them back as the client would.
          const decoded = Buffer.from(wire, 'utf8').toString('utf8');
          const { events, retries } = parse(decoded, cuts);
          expect(events).toHaveLength(evs.length);
          evs.forEach((sent: Published, i) => {
            const got = events[i]!;
            expect(got.event).toBe(sent.event);
            // Line breaks of any style come back as LF, which is what every SSE client delivers.
            expect(got.data).toBe(sent.data.replace(/\r\n|\r/g, '\n'));
            expect(got.id).toBe(sent.id);
          });
          expect(retries).toEqual(
            evs.filter((e: Published) => e.retry !== undefined).map((e: Published) => e.retry),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('JSON data of any shape survives encoding and parsing', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.array(fc.nat({ max: 9 })), (value, cuts) => {
        const encoded = encode('c', { event: 'v', data: value });
        const { events } = parse(encoded.text, cuts);
        expect(events).toHaveLength(1);
        expect(JSON.parse(events[0]!.data)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });

  it('raw string data with arbitrary line breaks cannot inject fields', () => {
    fc.assert(
      fc.property(text, (data) => {
        const encoded = encode('c', { event: 'log', data, raw: true });
        const { events } = parse(encoded.text, []);
        expect(events).toHaveLength(1);
        expect(events[0]!.event).toBe('log');
        expect(events[0]!.id).toBeUndefined();
        expect(events[0]!.data).toBe(data.replace(/\r\n|\r/g, '\n'));
      }),
      { numRuns: 300 },
    );
  });
});
