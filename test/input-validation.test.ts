// Inputs refused precisely (issue 9, defects 10 and 11): events that cannot be sent as written,
// reserved ids, hostile event objects, store failures on proxied requests, the Channel write
// callback, and option keys that do not exist.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/history/memory-store.js';
import {
  events as createEvents,
  createHandler,
  DataSerializationError,
  type EventInput,
  EventStoreError,
  type EventsOptions,
  encodeEvent,
  express,
  InvalidEventError,
  InvalidOptionError,
} from '../src/index.js';
import { openedClient, serveWithCleanup, type TestServer } from './helpers/server.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const serve = (options: EventsOptions) => serveWithCleanup(cleanups, options);
const client = (server: TestServer, channel: string) => openedClient(cleanups, server, channel);

/** The error `fn` throws (or undefined). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('events that cannot be sent as written are refused (defect 10)', () => {
  const HIGH = '\uD83D';
  const LOW = '\uDE00';

  it.each([
    ['a lone high surrogate in event', { event: `a${HIGH}` }, 'event'],
    ['a lone low surrogate in event', { event: `${LOW}b` }, 'event'],
    ['reversed surrogates in event', { event: `${LOW}${HIGH}` }, 'event'],
    ['NUL in event', { event: 'a\0b' }, 'event'],
    ['a lone surrogate in id', { id: `x${HIGH}` }, 'id'],
    ['a lone surrogate in raw data', { raw: true, data: `line${LOW}` }, 'data'],
  ])('%s → InvalidEventError, nothing sent', async (_name, input, field) => {
    const { ev, server } = await serve({ history: false });
    const c = await client(server, 'a');
    const err = await ev.publish('a', input as EventInput).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidEventError);
    expect(err).toMatchObject({ code: 'ERR_SSE_INVALID_EVENT', field });
    expect(thrown(() => encodeEvent(input as never))).toBeInstanceOf(InvalidEventError);
    await ev.publish('a', { event: 'next' });
    await c.waitFor((x) => x.named('next').length === 1, 5000, 'next');
    expect(c.events.map((e) => e.event)).toEqual(['stream-open', 'next']);
  });

  it('accepts a well-formed pair and JSON data with a lone surrogate, which round-trips escaped', async () => {
    const { ev, server } = await serve({});
    const c = await client(server, 'a');
    const text = `pair \uD83D\uDE00, lone \uD83D and \uDE00`;
    await ev.publish('a', { event: 'smile\uD83D\uDE00', data: { text } });
    await c.waitFor((x) => x.named('smile\uD83D\uDE00').length === 1, 5000, 'smile');
    const data = c.named('smile\uD83D\uDE00')[0]!.data;
    // JSON.stringify escapes lone surrogates, so the wire is valid UTF-8 and nothing is lost.
    expect(data).toContain('\\ud83d and \\ude00');
    expect((JSON.parse(data) as { text: string }).text).toBe(text);
  });

  it("reserves id 'error' with history: false (it would stop a reconnecting EventSource for good)", async () => {
    const { ev } = await serve({ history: false });
    await expect(ev.publish('a', { event: 'x', id: 'error' })).rejects.toMatchObject({
      code: 'ERR_SSE_INVALID_EVENT',
      field: 'id',
    });
    await ev.publish('a', { event: 'x', id: 'errors' });
  });

  it('a getter or Proxy that throws on the event object gives InvalidEventError, with the cause', async () => {
    const ev = createEvents({ keepAlive: false });
    cleanups.push(() => ev.close());
    const getter = {
      event: 'x',
      get data(): unknown {
        throw new Error('getter exploded');
      },
    };
    const err = await ev.publish('a', getter as EventInput).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidEventError);
    expect((err as InvalidEventError).cause).toMatchObject({ message: 'getter exploded' });
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap exploded');
        },
      },
    );
    await expect(ev.publish('a', proxy as EventInput)).rejects.toBeInstanceOf(InvalidEventError);
    const revocable = Proxy.revocable({ event: 'x' }, {});
    revocable.revoke();
    await expect(ev.publish('a', revocable.proxy as EventInput)).rejects.toBeInstanceOf(InvalidEventError);
    // A throwing toJSON is still a serialisation problem.
    const toJson = {
      toJSON(): never {
        throw new Error('toJSON exploded');
      },
    };
    await expect(ev.publish('a', { event: 'x', data: toJson })).rejects.toBeInstanceOf(
      DataSerializationError,
    );
    expect(ev.stats().publishErrors).toBe(4);
  });

  it('a store failure on a proxied request: EventStoreError to listeners, 503 with Retry-After to the proxy', async () => {
    class DownStore extends MemoryStore {
      override async readAfter(): Promise<never> {
        throw new Error('connection refused');
      }
    }
    const { ev, server } = await serve({
      history: new DownStore(),
      grip: 'http://127.0.0.1:9?key=changeme',
    });
    const errors: Error[] = [];
    ev.on('error', (err) => errors.push(err));
    const sig = hs256({ iss: 'pushpin', exp: Math.floor(Date.now() / 1000) + 60 }, 'changeme');
    const res = await get(server.url('/?channel=a'), { accept: 'text/event-stream', 'grip-sig': sig });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.body).toMatch(/event history is unavailable/);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(EventStoreError);
    expect((errors[0] as EventStoreError).cause).toMatchObject({ message: 'connection refused' });
  });

  it('a channel write calls back after local delivery with history on, as documented', async () => {
    const { ev, server } = await serve({});
    const c = await client(server, 'a');
    const channel = ev.channel('a');
    let deliveredAtCallback = -1;
    await new Promise<void>((resolve, reject) =>
      channel.write({ event: 'w' }, (err) => {
        deliveredAtCallback = ev.stats().eventsDelivered;
        if (err) reject(err);
        else resolve();
      }),
    );
    expect(deliveredAtCallback).toBe(1);
    await c.waitFor((x) => x.named('w').length === 1, 5000, 'w');
    // A refused write still calls back (and reports publishError), so the stream goes on.
    const refused = new Promise((resolve) => channel.once('publishError', resolve));
    await new Promise<void>((resolve) => channel.write({ event: 'bad\n' }, () => resolve()));
    await refused;
  });
});

describe('unknown option keys are refused, naming the closest valid key (defect 11)', () => {
  function optionError(fn: () => unknown): InvalidOptionError {
    const err = thrown(fn);
    expect(err).toBeInstanceOf(InvalidOptionError);
    return err as InvalidOptionError;
  }

  it.each([
    [{ keepalive: 1000 }, 'keepalive', 'keepAlive'],
    [{ maxBuffer: 1 }, 'maxBuffer', 'maxBufferBytes'],
    [{ history: { maxEvents: 5 } }, 'history.maxEvents', 'history.maxEventsPerChannel'],
    [{ history: { max: 5 } }, 'history.max', 'history.maxAgeMs'],
    [{ reliable: { secert: 'x'.repeat(16) } }, 'reliable.secert', 'reliable.secret'],
    [{ gripRetry: { retry: 2 } }, 'gripRetry.retry', 'gripRetry.retries'],
    [{ grip: { controlURI: 'http://127.0.0.1:5561' } }, 'grip.controlURI', 'grip.controlUri'],
    [
      { grip: ['http://127.0.0.1:5561', { controlUri: 'http://x', keys: 'k' }] },
      'grip[1].keys',
      'grip[1].key',
    ],
  ])('events(%j)', (options, option, suggestion) => {
    const err = optionError(() => createEvents(options as EventsOptions));
    expect(err.option).toBe(option);
    expect(err.code).toBe('ERR_SSE_INVALID_OPTION');
    expect(err.message).toContain(`did you mean '${suggestion}'?`);
  });

  it('the 2.x option gripPubControl says what replaces it', () => {
    const err = optionError(() =>
      createEvents({ gripPubControl: { publishHttpStream() {} } } as EventsOptions),
    );
    expect(err.option).toBe('gripPubControl');
    expect(err.message).toMatch(/2\.x/);
    expect(err.message).toMatch(/grip \(a GRIP_URL/);
  });

  it('createHandler() and express() options', () => {
    const ev = createEvents({ keepAlive: false });
    cleanups.push(() => ev.close());
    const chanels = () => ['a'];
    const a = optionError(() => express({ events: ev, chanels } as never));
    expect(a.option).toBe('chanels');
    expect(a.message).toContain("did you mean 'channels'?");
    const b = optionError(() => createHandler({ events: ev, authorise: () => true } as never));
    expect(b.message).toContain("did you mean 'authorize'?");
    const c = optionError(() =>
      createHandler({ events: ev, grip: { controlUri: 'http://x', verifykey: 'k' } } as never),
    );
    expect(c.message).toContain("did you mean 'grip.verifyKey'?");
    // Every documented key is still accepted.
    createHandler({
      events: ev,
      grip: null,
      channels: chanels,
      authorize: () => true,
      retry: 1,
      padding: true,
    });
    createHandler({ events: ev, retry: { minDelayMs: 0, maxDelayMs: 5000 } });
    createEvents({
      prefix: 'p-',
      keepAlive: false,
      keepAliveFormat: 'comment',
      maxBufferBytes: 1,
      maxChannelsPerRequest: 1,
      maxChannelNameLength: 10,
      history: { maxEventsPerChannel: 1, maxAgeMs: 1 },
      gripRetry: { retries: 1, minDelayMs: 1, maxDelayMs: 2, timeoutMs: 3 },
      reliable: { secret: 'x'.repeat(16), linkTimeoutSec: 5 },
      grip: { controlUri: 'http://127.0.0.1:5561', controlIss: 'i', key: 'k' },
    })
      .close()
      .catch(() => undefined);
  });

  it.each([
    [-1, 'retry', /retry must be an integer from 0/],
    [1.5, 'retry', /retry must be an integer from 0/],
    ['1s', 'retry', /retry must be an integer \(ms\) or \{ minDelayMs, maxDelayMs \}/],
    [[1000, 2000], 'retry', /or \{ minDelayMs, maxDelayMs \}/],
    [{ minDelayMs: 1000 }, 'retry.maxDelayMs', /retry\.maxDelayMs must be an integer/],
    [{ minDelayMs: -1, maxDelayMs: 5 }, 'retry.minDelayMs', /retry\.minDelayMs must be an integer/],
    [{ minDelayMs: 5, maxDelayMs: 1 }, 'retry', /must not exceed retry\.maxDelayMs/],
    [{ min: 1, maxDelayMs: 5 }, 'retry.min', /did you mean 'retry\.minDelayMs'\?/],
  ])('createHandler() refuses retry %j (%s)', (retry, option, message) => {
    const ev = createEvents({ keepAlive: false });
    cleanups.push(() => ev.close());
    const err = optionError(() => createHandler({ events: ev, retry } as never));
    expect(err.option).toBe(option);
    expect(err.message).toMatch(message);
  });
});

function hs256(claims: Record<string, unknown>, key: string): string {
  const h = Buffer.from('{"typ":"JWT","alg":"HS256"}').toString('base64url');
  const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${h}.${p}.${createHmac('sha256', key).update(`${h}.${p}`).digest('base64url')}`;
}

function get(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}
