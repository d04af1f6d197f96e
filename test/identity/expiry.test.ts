// Token expiry ends streams: at `exp` the subscriber gets `stream-error` `token-expired` (no id,
// so it keeps its position) and the stream ends; reconnecting with a fresh token and its
// Last-Event-ID misses nothing. One heap and one timer serve every stream of a namespace.
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExpiryHeap } from '../../src/identity/expiry.js';
import { tokens } from '../../src/index.js';
import { type EventsFixture, serveEvents } from '../helpers/server.js';

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!';

function token(expSec: number): Promise<string> {
  return new SignJWT({ sub: 'alice', channels: ['feed'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(expSec)
    .sign(new TextEncoder().encode(SECRET));
}

const fixtures: EventsFixture[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const fx of fixtures.splice(0)) await fx.close();
});

describe('token expiry', () => {
  it('closes a live stream within 1 s of exp; a reconnect with a fresh token misses nothing', async () => {
    const fx = await serveEvents(
      { keepAlive: false },
      { authorize: tokens({ keys: [{ secret: SECRET }], clockToleranceSec: 0 }) },
    );
    fixtures.push(fx);
    const disconnects: string[] = [];
    fx.ev.on('disconnect', (info) => disconnects.push(`${info.reason}:${info.identity?.sub}`));
    const expSec = Math.floor(Date.now() / 1000) + 2;
    const first = await fx.open('/?channel=feed', {
      accept: 'text/event-stream',
      authorization: `Bearer ${await token(expSec)}`,
    });
    await first.waitFor((c) => c.named('stream-open').length === 1);
    // Publish all along, across the expiry and the reconnect.
    let n = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await fx.ev.publish('feed', { event: 'tick', data: ++n });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await first.waitFor((c) => c.ended, 10_000, 'the stream to end at exp');
    const lateMs = Date.now() - expSec * 1000;
    const error = first.named('stream-error')[0]!;
    expect(JSON.parse(error.data)).toMatchObject({ condition: 'token-expired' });
    expect(error.id).toBeUndefined(); // the client keeps its position
    expect(lateMs).toBeGreaterThanOrEqual(0);
    expect(lateMs).toBeLessThanOrEqual(1000);
    expect(disconnects).toEqual(['token-expired:alice']);

    const lastId = first.named('tick').at(-1)!.id!;
    const second = await fx.open('/?channel=feed', {
      accept: 'text/event-stream',
      authorization: `Bearer ${await token(Math.floor(Date.now() / 1000) + 60)}`,
      'last-event-id': lastId,
    });
    await second.waitFor((c) => c.named('tick').length >= 5);
    publishing = false;
    await publisher;
    await second.waitFor((c) => c.named('tick').at(-1)?.data === String(n), 10_000, 'the last tick');
    const got = [...first.named('tick'), ...second.named('tick')].map((e) => Number(e.data));
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    console.log(`token expiry: stream closed ${lateMs} ms after exp; ${n} events, none lost or repeated`);
  }, 30_000);

  it('one timer for many deadlines, in order; removed entries never fire', () => {
    vi.useFakeTimers({ now: 0 });
    const fired: number[] = [];
    const heap = new ExpiryHeap<number>((item) => fired.push(item));
    const deadlines = Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 1000) + 1);
    for (const [item, at] of deadlines.entries()) heap.add(item, at);
    for (let item = 0; item < 1000; item += 10) heap.remove(item);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(fired).toHaveLength(900);
    expect(fired.map((item) => deadlines[item])).toEqual(
      [...fired.map((item) => deadlines[item]!)].sort((a, b) => a - b),
    );
    expect(fired.some((item) => item % 10 === 0)).toBe(false);
    expect(heap.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
