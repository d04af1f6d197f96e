// The Transport over a web ReadableStream (the Fetch path), against Node's real WHATWG streams
// and AbortSignal: the queue is the backlog, pulls are drains, and the peer leaving is seen from
// the stream's cancel or the request's signal, whichever comes first, once.
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { SharedWrite } from '../src/core/transport.js';
import { WebStreamTransport } from '../src/transports/web-stream.js';

const out = (text: string) => new SharedWrite(Buffer.from(text), 1);
const decoder = new TextDecoder();

async function readText(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const { value, done } = await reader.read();
  return done ? '<done>' : decoder.decode(value);
}

describe('WebStreamTransport', () => {
  it('queues writes for the reader in order; the queue is the backlog', async () => {
    const t = new WebStreamTransport();
    t.write(out('one '));
    t.write(out('two'));
    expect(t.bufferedBytes()).toBe(7);
    const reader = t.stream.getReader();
    expect(await readText(reader)).toBe('one ');
    expect(t.bufferedBytes()).toBe(3);
    expect(await readText(reader)).toBe('two');
    expect(t.bufferedBytes()).toBe(0);
  });

  it('asks writers to wait above its high-water mark and resolves drained() when the reader pulls', async () => {
    const t = new WebStreamTransport();
    t.write(out('x'.repeat(20_000)));
    expect(t.needsDrain()).toBe(true);
    let drained = false;
    const waiting = t.drained().then(() => {
      drained = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false);
    const reader = t.stream.getReader();
    await reader.read();
    await waiting;
    expect(t.needsDrain()).toBe(false);
    expect(t.bufferedBytes()).toBe(0);
    await expect(t.drained()).resolves.toBeUndefined();
  });

  it("reports the peer leaving once when the stream is cancelled, and forgets the signal's listener", async () => {
    const abort = new AbortController();
    const t = new WebStreamTransport(abort.signal);
    let closes = 0;
    t.onClose(() => closes++);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(1);
    t.write(out('queued'));
    t.write(out('x'.repeat(20_000)));
    const pending = t.drained();
    await t.stream.cancel();
    await pending; // waiters are released, not left hanging
    abort.abort();
    expect(closes).toBe(1);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
    expect(t.bufferedBytes()).toBe(0);
    expect(() => t.write(out('late'))).not.toThrow();
  });

  it('reports the peer leaving once when only the signal aborts, and ends the body (no error to log)', async () => {
    const abort = new AbortController();
    const t = new WebStreamTransport(abort.signal);
    let closes = 0;
    t.onClose(() => closes++);
    const reader = t.stream.getReader();
    t.write(out('queued'));
    abort.abort();
    expect(closes).toBe(1);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
    // A runtime that never cancels is not left waiting: the body ends.
    expect(await readText(reader)).toBe('queued');
    expect(await readText(reader)).toBe('<done>');
    t.write(out('late'));
    await reader.cancel();
    expect(closes).toBe(1);
  });

  it('end() delivers what is queued, then closes the stream; no close report for a server end', async () => {
    const abort = new AbortController();
    const t = new WebStreamTransport(abort.signal);
    let closes = 0;
    t.onClose(() => closes++);
    t.write(out('last words'));
    t.detach(); // what the connection does before ending
    t.end();
    const reader = t.stream.getReader();
    expect(await readText(reader)).toBe('last words');
    expect(await readText(reader)).toBe('<done>');
    abort.abort();
    expect(closes).toBe(0);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
  });

  it('reset() discards the queue and errors the stream', async () => {
    const t = new WebStreamTransport();
    t.write(out('never read'));
    t.reset();
    expect(t.bufferedBytes()).toBe(0);
    await expect(t.stream.getReader().read()).rejects.toThrow(/event stream reset .*slow/);
    expect(() => t.end()).not.toThrow();
  });

  it('closes the connection after a reset only: not when it ends or the peer leaves', async () => {
    let closed = 0;
    const reset = new WebStreamTransport(undefined, () => closed++);
    reset.reset();
    reset.reset();
    expect(closed).toBe(1);
    const ended = new WebStreamTransport(undefined, () => closed++);
    ended.end();
    ended.reset();
    const abort = new AbortController();
    const left = new WebStreamTransport(abort.signal, () => closed++);
    abort.abort();
    left.reset();
    const cancelled = new WebStreamTransport(undefined, () => closed++);
    await cancelled.stream.cancel();
    cancelled.reset();
    expect(closed).toBe(1);
  });
});
