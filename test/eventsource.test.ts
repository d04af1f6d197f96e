// A real EventSource client (the `eventsource` package, WHATWG semantics on fetch) against
// createHandler: subscription, named events and lastEventId, lossless reconnection, and the
// stream-error protocol that makes EventSource stop instead of retrying forever.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventSource } from 'eventsource';
import { afterEach, describe, expect, it } from 'vitest';
import {
  events as createEvents,
  createHandler,
  type Events,
  type EventsOptions,
  type RetryOption,
} from '../src/index.js';
import { startServer, type TestServer } from './helpers/server.js';
import { request, until } from './helpers/sse-client.js';

const RETRY_MS = 50;

interface Seen {
  url: string;
  lastEventId: string | undefined;
  res: ServerResponse;
}

interface Fixture {
  ev: Events;
  server: TestServer;
  requests: Seen[];
  open(query: string): EventSource;
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(options: EventsOptions = {}, retry: RetryOption = RETRY_MS): Promise<Fixture> {
  const ev = createEvents({ keepAlive: false, ...options });
  const handler = createHandler({
    events: ev,
    retry,
    authorize: (_req: IncomingMessage, channels) => !channels.includes('secret'),
  });
  const requests: Seen[] = [];
  const server = await startServer((req, res) => {
    const header = req.headers['last-event-id'];
    requests.push({ url: req.url ?? '', lastEventId: Array.isArray(header) ? header[0] : header, res });
    handler(req, res);
  });
  const sources: EventSource[] = [];
  cleanups.push(async () => {
    for (const s of sources) s.close();
    await ev.close();
    await server.close();
  });
  return {
    ev,
    server,
    requests,
    open(query) {
      const es = new EventSource(server.url(`/events${query}`));
      sources.push(es);
      return es;
    },
  };
}

/** Record every event of the given types as `{ type, data, lastEventId }`. */
function record(
  es: EventSource,
  types: string[],
): Array<{ type: string; data: string; lastEventId: string }> {
  const seen: Array<{ type: string; data: string; lastEventId: string }> = [];
  for (const type of types) {
    es.addEventListener(type, (e: MessageEvent) => {
      seen.push({ type: e.type, data: String(e.data), lastEventId: e.lastEventId });
    });
  }
  return seen;
}

describe('EventSource subscription', () => {
  it('receives stream-open, named events and messages, with lastEventId when an id is given', async () => {
    const fx = await setup({ history: false });
    const es = fx.open('?channel=clock&channel=chat');
    const seen = record(es, ['stream-open', 'time', 'message']);
    let opened = false;
    es.addEventListener('open', () => {
      opened = true;
    });
    await until(() => seen.some((e) => e.type === 'stream-open'), 5000, 'stream-open');
    expect(opened).toBe(true);
    expect(es.readyState).toBe(EventSource.OPEN);
    await until(() => fx.ev.stats().connections === 1, 5000, 'subscribed');

    await fx.ev.publish('clock', { event: 'time', id: 't1', data: { value: '12:00' } });
    await fx.ev.publish('chat', { data: 'hello' });
    await fx.ev.publish('other', { event: 'time', id: 'nope', data: { value: 'never' } });
    await fx.ev.publish('clock', { event: 'time', id: 't2', data: { value: '12:01' } });
    await until(() => seen.length === 4, 5000, 'three events');
    expect(seen).toEqual([
      { type: 'stream-open', data: '', lastEventId: '' },
      { type: 'time', data: '{"value":"12:00"}', lastEventId: 't1' },
      { type: 'message', data: '"hello"', lastEventId: '' },
      { type: 'time', data: '{"value":"12:01"}', lastEventId: 't2' },
    ]);
    expect(fx.requests).toHaveLength(1);
  });

  it('with the default history, reconnects after a dropped connection and gets the missed events once', async () => {
    const fx = await setup();
    const es = fx.open('?channel=feed');
    const seen = record(es, ['stream-open', 'n']);
    await until(() => seen.length === 1, 5000, 'stream-open');
    await until(() => fx.ev.stats().connections === 1, 5000, 'subscribed');
    await fx.ev.publish('feed', { event: 'n', data: 1 });
    await until(() => seen.length === 2, 5000, 'first event');
    const firstId = seen[1]!.lastEventId;
    expect(firstId).toMatch(/^[0-9a-z]+-\d+$/);

    // The server drops the connection; events published meanwhile must not be lost.
    fx.requests[0]!.res.destroy();
    await until(() => fx.ev.stats().connections === 0, 5000, 'connection gone');
    await fx.ev.publish('feed', { event: 'n', data: 2 });
    await fx.ev.publish('feed', { event: 'n', data: 3 });
    await until(() => fx.requests.length === 2, 5000, 'the reconnect (retry was sent in the preamble)');
    expect(fx.requests[1]!.lastEventId).toBe(firstId);
    await until(() => seen.filter((e) => e.type === 'n').length === 3, 5000, 'missed events replayed');
    await fx.ev.publish('feed', { event: 'n', data: 4 });
    await until(() => seen.filter((e) => e.type === 'n').length === 4, 5000, 'live event after resume');
    expect(seen.filter((e) => e.type === 'n').map((e) => e.data)).toEqual(['1', '2', '3', '4']);
    expect(es.readyState).toBe(EventSource.OPEN);
  });
});

describe('a retry range', () => {
  it('brings every EventSource back after the server drops them all at once, each resuming once', async () => {
    const fx = await setup({}, { minDelayMs: 20, maxDelayMs: 200 });
    const sources = Array.from({ length: 8 }, () => fx.open('?channel=feed'));
    const seen = sources.map((es) => record(es, ['n']));
    await until(() => fx.ev.stats().connections === 8, 5000, 'all subscribed');
    await fx.ev.publish('feed', { event: 'n', data: 1 });
    await until(() => seen.every((s) => s.length === 1), 5000, 'first event');
    for (const r of fx.requests) r.res.destroy();
    await until(() => fx.ev.stats().connections === 0, 5000, 'all dropped');
    await fx.ev.publish('feed', { event: 'n', data: 2 });
    await until(() => fx.requests.length === 16, 5000, 'every reconnect');
    for (const r of fx.requests.slice(8)) expect(r.lastEventId).toBe(seen[0]![0]!.lastEventId);
    await until(() => fx.ev.stats().connections === 8, 5000, 'all subscribed again');
    await fx.ev.publish('feed', { event: 'n', data: 3 });
    await until(() => seen.every((s) => s.length === 3), 5000, 'missed and live events');
    for (const s of seen) expect(s.map((e) => e.data)).toEqual(['1', '2', '3']);
  });
});

describe('stream-error stops EventSource', () => {
  async function refusedOnce(query: string, condition: string, textPart: string): Promise<void> {
    const fx = await setup();
    const es = fx.open(query);
    const seen = record(es, ['stream-error', 'stream-open']);
    const errors: Array<number | undefined> = [];
    es.addEventListener('error', (e) => errors.push((e as Event & { code?: number }).code));
    await until(() => seen.length === 1, 10_000, 'stream-error');
    expect(seen[0]!.type).toBe('stream-error');
    expect(seen[0]!.lastEventId).toBe('error');
    const payload = JSON.parse(seen[0]!.data) as { condition: string; text: string };
    expect(payload.condition).toBe(condition);
    expect(typeof payload.text).toBe('string');
    expect(payload.text).toContain(textPart);

    // It reconnects once, carrying Last-Event-ID: error, is answered 204 and closes for good.
    await until(() => es.readyState === EventSource.CLOSED, 10_000, 'EventSource to close');
    expect(fx.requests).toHaveLength(2);
    expect(fx.requests[0]!.lastEventId).toBeUndefined();
    expect(fx.requests[1]!.lastEventId).toBe('error');
    expect(errors.at(-1)).toBe(204);

    expect(seen.filter((e) => e.type === 'stream-open')).toHaveLength(0);
    expect(fx.ev.stats().connectionsOpened).toBe(0);

    // And it stays closed. No clock: a control EventSource with the same retry: is dropped by
    // the server ten times and must reconnect ten times, each after a retry period; one that
    // had not stopped would have come back in that time too.
    const control = fx.open('?channel=control');
    const controlRequests = () => fx.requests.filter((r) => r.url.includes('channel=control'));
    for (let round = 1; round <= 10; round++) {
      await until(() => fx.ev.stats().connections === 1, 10_000, `control stream ${round}`);
      expect(controlRequests()).toHaveLength(round);
      controlRequests().at(-1)!.res.destroy();
      await until(() => fx.ev.stats().connections === 0, 10_000, `control drop ${round}`);
    }
    await until(() => controlRequests().length === 11, 10_000, 'the control back a tenth time');
    expect(fx.requests.filter((r) => !r.url.includes('channel=control'))).toHaveLength(2);
    expect(es.readyState).toBe(EventSource.CLOSED);
    control.close();

    // The configured retry applies to refusals too: the refusal carries it, so the one
    // reconnect above came after 50 ms, not after eventsource's default of 3 s.
    const raw = await request(fx.server.url(`/events${query}`), { headers: { accept: 'text/event-stream' } });
    expect(raw.body).toMatch(new RegExp(`^retry: ${RETRY_MS}$`, 'm'));
  }

  it('bad request: no channel', async () => {
    await refusedOnce('', 'bad-request', 'channel');
  });

  it('bad request: invalid channel name', async () => {
    await refusedOnce('?channel=a%2Cb', 'bad-request', 'Invalid channel');
  });

  it('forbidden: authorize returns false', async () => {
    await refusedOnce('?channel=public&channel=secret', 'forbidden', 'Forbidden');
  });
});
