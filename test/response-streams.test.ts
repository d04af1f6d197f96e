// Response streams (`events.stream(id)`) served by `streamHandler()`: read while produced, resume
// after Last-Event-ID byte for byte, the ending, reload after completion, expiry, stop (not
// disconnect), a producer that dies, compaction, bad input. Every test runs twice: on the
// node:http `streamHandler()` and on the Fetch `streamFetchHandler()` behind @hono/node-server (a
// real node:http → Request bridge).
import { getRequestListener } from '@hono/node-server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { internalsOf } from '../src/compose/events.js';
import { MemoryState, type SharedState } from '../src/engine/state.js';
import { type Events, events, ResponseStreamError, streamFetchHandler, streamHandler } from '../src/index.js';
import { startServer, type TestServer } from './helpers/server.js';
import { connect, request, type SseClient, until } from './helpers/sse-client.js';

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

type Flavour = 'node' | 'fetch';

async function setup(
  flavour: Flavour,
  options: Parameters<typeof events>[0] = {},
): Promise<{ ev: Events; server: TestServer }> {
  const ev = events(options);
  const listener =
    flavour === 'node'
      ? streamHandler({ events: ev })
      : getRequestListener(streamFetchHandler({ events: ev }));
  const server = await startServer(listener);
  cleanup.push(
    () => server.close(),
    () => ev.close(),
  );
  return { ev, server };
}

async function open(server: TestServer, id: string, lastEventId?: string): Promise<SseClient> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  const client = await connect(server.url(`/streams/${id}`), headers);
  cleanup.push(() => client.close());
  return client;
}

const text = (c: SseClient) =>
  c.events
    .filter((e) => e.event === 'message' || e.event === 'snapshot')
    .map((e) => e.data)
    .join('');

for (const flavour of ['node', 'fetch'] as const)
  describe(`response streams (${flavour === 'node' ? 'streamHandler' : 'streamFetchHandler'})`, () => {
    it('a reader gets every chunk as it is appended, then the end, and the response ends', async () => {
      const { ev, server } = await setup(flavour);
      const s = ev.stream('gen-1');
      await s.append('Hel');
      const client = await open(server, 'gen-1');
      expect(client.status).toBe(200);
      await client.waitFor((c) => c.events.length === 1, 10_000, 'the first chunk');
      await s.append('lo');
      await s.end();
      await client.waitFor((c) => c.ended, 10_000, 'the end of the response');
      expect(text(client)).toBe('Hello');
      expect(client.events.at(-1)).toMatchObject({ event: 'end', data: '{"status":"done"}' });
    });

    it('a client resuming after any Last-Event-ID gets exactly the bytes an uninterrupted client got after it', async () => {
      const { ev, server } = await setup(flavour);
      const s = ev.stream('gen-2');
      const whole = await open(server, 'gen-2');
      const chunks = Array.from({ length: 50 }, (_, i) => `t${i} `);
      for (const chunk of chunks) void s.append(chunk);
      await s.end();
      await whole.waitFor((c) => c.ended, 10_000, 'the whole stream');
      expect(text(whole)).toBe(chunks.join(''));
      for (const cut of [0, 1, 25, 49]) {
        const at = whole.events[cut]!;
        const resumed = await open(server, 'gen-2', at.id);
        await resumed.waitFor((c) => c.ended, 10_000, 'the resumed stream');
        const offset = whole.body.indexOf(`id: ${at.id}\n`);
        const after = whole.body.slice(whole.body.indexOf('\n\n', offset) + 2);
        expect(resumed.body).toBe(after);
      }
    });

    it('a new page resumes with ?lastEventId= (no header): the same bytes; the header wins over the query', async () => {
      const { ev, server } = await setup(flavour);
      const s = ev.stream('gen-q');
      const whole = await open(server, 'gen-q');
      for (const chunk of ['a ', 'b ', 'c ', 'd']) void s.append(chunk);
      await s.end();
      await whole.waitFor((c) => c.ended, 10_000, 'the whole stream');
      const atId = whole.events[1]!.id!;
      const after = whole.body.slice(whole.body.indexOf('\n\n', whole.body.indexOf(`id: ${atId}\n`)) + 2);
      const byQuery = await connect(server.url(`/streams/gen-q?lastEventId=${encodeURIComponent(atId)}`), {
        accept: 'text/event-stream',
      });
      cleanup.push(() => byQuery.close());
      await byQuery.waitFor((c) => c.ended, 10_000, 'the resumed stream');
      expect(byQuery.body).toBe(after);
      const both = await connect(server.url('/streams/gen-q?lastEventId=junk'), {
        accept: 'text/event-stream',
        'last-event-id': atId,
      });
      cleanup.push(() => both.close());
      await both.waitFor((c) => c.ended, 10_000, 'the resumed stream');
      expect(both.body).toBe(after);
      const malformed = await connect(server.url('/streams/gen-q?lastEventId=junk'), {
        accept: 'text/event-stream',
      });
      cleanup.push(() => malformed.close());
      await malformed.waitFor((c) => c.ended, 10_000, 'the stream from its start');
      expect(malformed.body).toBe(whole.body);
    });

    it('a reload after the end gets the whole answer; the last id gets 204; after retainMs 404', async () => {
      const { ev, server } = await setup(flavour);
      const s = ev.stream('gen-3', { retainMs: 300 });
      await s.append('all ');
      await s.append('done');
      await s.end();
      const reload = await open(server, 'gen-3');
      await reload.waitFor((c) => c.ended, 10_000, 'the replay');
      expect(text(reload)).toBe('all done');
      const last = await request(server.url('/streams/gen-3'), {
        headers: { 'last-event-id': reload.events.at(-1)!.id! },
      });
      expect(last.status).toBe(204);
      await until(
        async () => (await request(server.url('/streams/gen-3'))).status === 404,
        10_000,
        'the expired stream to answer 404',
      );
      const expired = await request(server.url('/streams/gen-3'));
      expect(expired.headers['x-stream-status']).toBe('expired');
      const unknown = await request(server.url('/streams/never'));
      expect(unknown.status).toBe(404);
      expect(unknown.headers['x-stream-status']).toBe('unknown');
    });

    it('a stop request aborts the producer and ends the stream as stopped; a disconnect does not', async () => {
      const { ev, server } = await setup(flavour);
      const s = ev.stream('gen-4');
      await s.append('a');
      const reader = await open(server, 'gen-4');
      await reader.waitFor((c) => c.events.length === 1, 10_000, 'a chunk');
      reader.close();
      const other = await open(server, 'gen-4');
      await other.waitFor((c) => c.events.length === 1, 10_000, 'a chunk');
      expect(s.signal.aborted).toBe(false);
      const stop = await request(server.url('/streams/gen-4/stop'), { method: 'POST' });
      expect(stop.status).toBe(202);
      await until(() => s.signal.aborted, 10_000, "the producer's abort signal");
      // Named AbortError (fetch and the AI SDK take only that for a cancellation), saying why.
      expect(s.signal.reason).toBeInstanceOf(ResponseStreamError);
      expect(s.signal.reason).toMatchObject({
        name: 'AbortError',
        code: 'ERR_SSE_STREAM',
        problem: 'stopped',
        streamId: 'gen-4',
        message: 'response stream "gen-4": a client stopped this stream',
      });
      await other.waitFor((c) => c.ended, 10_000, 'the end');
      expect(other.events.at(-1)).toMatchObject({ event: 'end', data: '{"status":"stopped"}' });
      await expect(s.append('more')).rejects.toMatchObject({ problem: 'stopped' });
      expect((await request(server.url('/streams/gen-4/stop'), { method: 'POST' })).status).toBe(409);
    });

    it('a failed generation ends with its message and aborts its signal; end() does not abort it', async () => {
      const { ev, server } = await setup(flavour);
      const s = ev.stream('gen-5');
      await s.append('x');
      await s.fail(new Error('model overloaded'));
      expect(s.signal.reason).toMatchObject({ name: 'AbortError', problem: 'failed' });
      expect(s.signal.reason.message).toContain('model overloaded');
      const done = ev.stream('gen-5b');
      await done.end();
      expect(done.signal.aborted).toBe(false);
      const client = await open(server, 'gen-5');
      await client.waitFor((c) => c.ended, 10_000, 'the end');
      expect(JSON.parse(client.events.at(-1)!.data)).toEqual({
        status: 'failed',
        message: 'model overloaded',
      });
    });

    it('a producer that stops its heartbeat (dies) is noticed by readers: the stream ends as lost, once', async () => {
      const { ev, server } = await setup(flavour);
      const s = ev.stream('gen-6', { heartbeatMs: 20 });
      await s.append('partial');
      const a = await open(server, 'gen-6');
      const b = await open(server, 'gen-6');
      s.abandon(); // what a kill -9 leaves: no more heartbeats, no end
      for (const c of [a, b]) await c.waitFor((x) => x.ended, 15_000, 'the lost ending');
      for (const c of [a, b]) {
        expect(c.named('end')).toHaveLength(1);
        expect(JSON.parse(c.events.at(-1)!.data)).toMatchObject({ status: 'lost' });
      }
      const again = await open(server, 'gen-6');
      await again.waitFor((x) => x.ended, 10_000, 'the replay');
      expect(again.body).toBe(a.body);
    });

    it('compaction: a fresh reader of a finished stream gets one snapshot and the end, the same text', async () => {
      const { ev, server } = await setup(flavour);
      const s = ev.stream('gen-7', { compact: { every: 100 } });
      const chunks = Array.from({ length: 2500 }, (_, i) => `w${i}${i % 40 === 0 ? '\n' : ' '}`);
      for (const chunk of chunks) void s.append(chunk);
      await s.end();
      const client = await open(server, 'gen-7');
      await client.waitFor((c) => c.ended, 10_000, 'the compacted replay');
      expect(client.events.map((e) => e.event)).toEqual(['snapshot', 'end']);
      expect(text(client)).toBe(chunks.join(''));
      // A reader resuming inside the stream (after the first chunk, seq 1) gets every chunk after
      // its id, whole, then the end: not a snapshot, and not cut by the per-channel bound (1,000).
      const full = await open(server, 'gen-7', `${client.events[0]!.id!.split('-')[0]}-1`);
      await full.waitFor((c) => c.ended, 10_000, 'the replay');
      expect(full.events.some((e) => e.event === 'snapshot')).toBe(false);
      expect(full.named('message').map((e) => e.data)).toEqual(chunks.slice(1));
      expect(full.events.at(-1)).toMatchObject({ event: 'end', data: '{"status":"done"}' });
    });

    it('a compacted live stream: snapshot so far, then the tail as it comes', async () => {
      const { ev, server } = await setup(flavour);
      const s = ev.stream('gen-8', { compact: { every: 10 } });
      const chunks = Array.from({ length: 25 }, (_, i) => `c${i} `);
      for (const chunk of chunks) await s.append(chunk);
      const client = await open(server, 'gen-8');
      await client.waitFor((c) => c.events.length >= 1, 10_000, 'the snapshot');
      await s.append('tail');
      await s.end();
      await client.waitFor((c) => c.ended, 10_000, 'the end');
      expect(text(client)).toBe(`${chunks.join('')}tail`);
      expect(client.named('snapshot')).toHaveLength(1);
    });

    it('bad ids and options are typed errors; a bad path is 400 or 404, never a crash', async () => {
      const { ev, server } = await setup(flavour);
      expect(() => ev.stream('bad id')).toThrow(ResponseStreamError);
      expect(() => ev.stream('ok', { retainMs: -1 })).toThrow(/retainMs/);
      expect(() => ev.stream('ok2', { compcat: true } as never)).toThrow(/compcat/);
      ev.stream('dup');
      expect(() => ev.stream('dup')).toThrow(/exists/);
      expect((await request(server.url('/streams/%E0%A4%A'))).status).toBe(404);
      expect((await request(server.url('/streams/a%20b'))).status).toBe(400);
      expect((await request(server.url('/streams/x'), { method: 'PUT' })).status).toBe(405);
      const stream = events({ history: false });
      cleanup.push(() => stream.close());
      expect(() => stream.stream('x')).toThrow(/history/);
    });
  });

describe('response streams and the namespace', () => {
  it('closing the namespace aborts the signal of every stream still produced in it (closed)', async () => {
    const ev = events();
    const s = ev.stream('gen-close');
    await s.append('x');
    await ev.close();
    expect(s.signal.reason).toMatchObject({ name: 'AbortError', code: 'ERR_SSE_STREAM', problem: 'closed' });
  });

  it('a producer that stalled past its lease and was declared lost stops: signal aborted (lost), appends refused, nothing after the end', async () => {
    const { ev, server } = await setup('node');
    const s = ev.stream('gen-stall', { heartbeatMs: 20 });
    await s.append('before ');
    const reader = await open(server, 'gen-stall');
    await reader.waitFor((c) => c.events.length === 1, 10_000, 'a chunk');
    // What a stall longer than the lease leaves: the status entry expired while the producer lives.
    await internalsOf(ev).engine.state.delete('stream-status', 'gen-stall');
    await reader.waitFor((c) => c.ended, 15_000, 'the lost ending');
    expect(JSON.parse(reader.events.at(-1)!.data)).toMatchObject({ status: 'lost' });
    await until(() => s.signal.aborted, 10_000, "the producer's abort signal");
    expect(s.signal.reason).toMatchObject({ name: 'AbortError', problem: 'lost' });
    await expect(s.append('after')).rejects.toMatchObject({ problem: 'lost' });
    await expect(s.end()).rejects.toMatchObject({ problem: 'lost' });
    const again = await open(server, 'gen-stall');
    await again.waitFor((c) => c.ended, 10_000, 'the replay');
    expect(again.body).toBe(reader.body);
  });
});

describe('the heartbeat and a reader declaring the stream lost, interleaved', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a reader's `lost` landing inside the producer's heartbeat is never overwritten: the producer stops instead", async () => {
    // Only the heartbeat's interval and the clock are fake: the store's own work runs as usual.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const inner = new MemoryState();
    const lost = JSON.stringify({ v: 1, s: 'lost' });
    let interleaved = false;
    // The reader's write lands right after the heartbeat's first look at the status: after a read
    // it returns (a read-then-write heartbeat), or before an atomic step (compare-and-set).
    const readerWrites = () => {
      interleaved = true;
      return inner.put('stream-status', 'gen-race', lost, 60_000);
    };
    const state: SharedState = {
      put: (...a) => inner.put(...a),
      delete: (...a) => inner.delete(...a),
      entries: (...a) => inner.entries(...a),
      count: (...a) => inner.count(...a),
      close: () => inner.close(),
      async get(scope, key) {
        const value = await inner.get(scope, key);
        if (scope === 'stream-status' && key === 'gen-race' && !interleaved) await readerWrites();
        return value;
      },
      async compareAndSet(scope, key, expected, value, ttlMs) {
        if (scope === 'stream-status' && expected !== undefined && !interleaved) await readerWrites();
        return inner.compareAndSet(scope, key, expected, value, ttlMs);
      },
    };
    const ev = events({ state });
    cleanup.push(() => ev.close());
    const s = ev.stream('gen-race', { heartbeatMs: 1000 });
    await s.append('before ');
    await vi.advanceTimersByTimeAsync(1000);
    expect(interleaved).toBe(true);
    expect(await inner.get('stream-status', 'gen-race')).toBe(lost);
    expect(s.signal.aborted).toBe(true);
    expect(s.signal.reason).toMatchObject({ name: 'AbortError', problem: 'lost' });
    await expect(s.append('after')).rejects.toMatchObject({ problem: 'lost' });
    await vi.advanceTimersByTimeAsync(5000);
    expect(await inner.get('stream-status', 'gen-race')).toBe(lost);
  });
});

describe('response streams: an ending after a reader declared the stream lost', () => {
  it("end() after a reader stored the stream's lost ending rejects (lost), and the status stays lost", async () => {
    const { ev, server } = await setup('node');
    // No beat before end(): the reader's `lost` lands between two beats.
    const s = ev.stream('gen-late-end', { heartbeatMs: 60_000 });
    await s.append('before ');
    await internalsOf(ev).engine.state.delete('stream-status', 'gen-late-end');
    const reader = await open(server, 'gen-late-end');
    await reader.waitFor((c) => c.ended, 15_000, 'the lost ending');
    expect(JSON.parse(reader.events.at(-1)!.data)).toMatchObject({ status: 'lost' });
    await expect(s.end()).rejects.toMatchObject({ problem: 'lost' });
    expect(s.signal.reason).toMatchObject({ name: 'AbortError', problem: 'lost' });
    const status = await internalsOf(ev).engine.state.get('stream-status', 'gen-late-end');
    expect(status).toContain('lost');
  });
});

describe('streamFetchHandler in-process (Request in, Response out)', () => {
  const url = (path: string) => `http://127.0.0.1:3000${path}`;

  async function readUntil(res: Response, done: (text: string) => boolean): Promise<string> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let body = '';
    while (!done(body)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      body += decoder.decode(value, { stream: true });
    }
    reader.releaseLock();
    return body;
  }

  it('answers 204 with no body, 404 with its status header, and 400 for a bad id', async () => {
    const ev = events();
    cleanup.push(() => ev.close());
    const handler = streamFetchHandler({ events: ev });
    const s = ev.stream('f-1');
    await s.append('x');
    await s.end();
    const whole = await handler(new Request(url('/streams/f-1')));
    const body = await whole.text();
    const lastId = /id: (\S+)\nevent: end/.exec(body)![1]!;
    const done = await handler(new Request(url('/streams/f-1'), { headers: { 'last-event-id': lastId } }));
    expect(done.status).toBe(204);
    expect(done.body).toBeNull();
    const unknown = await handler(new Request(url('/streams/nope')));
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-stream-status')).toBe('unknown');
    expect((await handler(new Request(url('/streams/a%20b')))).status).toBe(400);
    expect(() => streamFetchHandler({ events: ev, rendr: () => '' } as never)).toThrow(/rendr/);
  });

  it('retry: a stream starts with the retry line (one delay, or one drawn from a range); none by default; a bad one is a typed error', async () => {
    const ev = events();
    cleanup.push(() => ev.close());
    const s = ev.stream('r-1');
    await s.append('x');
    await s.end();
    const bodyOf = async (handler: (r: Request) => Promise<Response>) =>
      (await handler(new Request(url('/streams/r-1')))).text();
    expect(await bodyOf(streamFetchHandler({ events: ev, retry: 500 }))).toMatch(/^retry: 500\n\nid: /);
    const drawn = Number(
      /^retry: (\d+)\n\n/.exec(
        await bodyOf(streamFetchHandler({ events: ev, retry: { minDelayMs: 200, maxDelayMs: 400 } })),
      )?.[1],
    );
    expect(drawn).toBeGreaterThanOrEqual(200);
    expect(drawn).toBeLessThanOrEqual(400);
    expect(await bodyOf(streamFetchHandler({ events: ev }))).not.toMatch(/retry:/);
    expect(() => streamHandler({ events: ev, retry: -1 })).toThrow(/retry/);
    expect(() => streamHandler({ events: ev, retry: { minDelayMs: 5, maxDelayMs: 1 } })).toThrow(
      /minDelayMs/,
    );
  });

  it('a client leaving (request.signal) or cancelling the body releases its reader; the producer goes on', async () => {
    const ev = events();
    cleanup.push(() => ev.close());
    const handler = streamFetchHandler({ events: ev });
    const s = ev.stream('f-2');
    await s.append('first');
    const left = new AbortController();
    const a = await handler(new Request(url('/streams/f-2'), { signal: left.signal }));
    const b = await handler(new Request(url('/streams/f-2')));
    expect(await readUntil(a, (t) => t.includes('first'))).toContain('data: first');
    expect(await readUntil(b, (t) => t.includes('first'))).toContain('data: first');
    await until(() => ev.stats().connections === 2, 10_000);
    left.abort();
    await until(() => ev.stats().connections === 1, 10_000);
    await b.body!.cancel();
    await until(() => ev.stats().connections === 0, 10_000);
    expect(s.signal.aborted).toBe(false);
    await s.append('second');
    await s.end();
  });
});
