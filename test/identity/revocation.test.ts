// Revocation: `events.revoke()` closes the matching open streams (`stream-error` `revoked`),
// refuses matching reconnects until `unrevoke()`, leaves everyone else alone, and reaches
// processes that missed the control message through the shared state on resync.
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createHandler,
  events,
  InvalidOptionError,
  type JsonValue,
  LocalControl,
  MemoryState,
  tokens,
} from '../../src/index.js';
import { type EventsFixture, serveEvents, startServer } from '../helpers/server.js';
import { connect, request, type SseClient } from '../helpers/sse-client.js';

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!';
const authorize = tokens({ keys: [{ secret: SECRET }] });

function token(sub: string, jti?: string): Promise<string> {
  const jwt = new SignJWT({ sub, channels: ['user:{sub}:*', 'room:*'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m');
  if (jti !== undefined) jwt.setJti(jti);
  return jwt.sign(new TextEncoder().encode(SECRET));
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(): Promise<EventsFixture> {
  const fx = await serveEvents({ keepAlive: false }, { authorize });
  cleanups.push(() => fx.close());
  return fx;
}

async function open(fx: EventsFixture, path: string, sub: string, jti?: string): Promise<SseClient> {
  const es = await fx.open(path, {
    accept: 'text/event-stream',
    authorization: `Bearer ${await token(sub, jti)}`,
  });
  await es.waitFor((c) => c.named('stream-open').length === 1 || c.ended);
  return es;
}

const condition = (es: SseClient) => JSON.parse(es.named('stream-error')[0]?.data ?? '{}').condition;

describe('revoke()', () => {
  it('closes every stream of a subject, refuses its reconnects until unrevoke(), and leaves others alone', async () => {
    const fx = await serve();
    const alice = [
      await open(fx, '/?channel=user:alice:inbox', 'alice'),
      await open(fx, '/?channel=room:1', 'alice'),
    ];
    const bob = await open(fx, '/?channel=room:1', 'bob');
    await fx.ev.revoke({ sub: 'alice' });
    for (const es of alice) {
      await es.waitFor((c) => c.ended, 5000, 'alice to be closed');
      expect(condition(es)).toBe('revoked');
      expect(es.named('stream-error')[0]!.id).toBe('error'); // EventSource stops for good
    }
    await fx.ev.publish('room:1', { event: 'msg', data: 1 });
    await bob.waitFor((c) => c.named('msg').length === 1);
    expect(bob.ended).toBe(false);
    const again = await open(fx, '/?channel=room:1', 'alice');
    expect(condition(again)).toBe('revoked');
    const plain = await request(fx.server.url('/?channel=room:1'), {
      headers: { authorization: `Bearer ${await token('alice')}` },
    });
    expect([plain.status, plain.body]).toEqual([403, expect.stringContaining('revoked')]);
    await fx.ev.unrevoke({ sub: 'alice' });
    await new Promise((r) => setImmediate(r));
    const back = await open(fx, '/?channel=room:1', 'alice');
    expect(back.named('stream-open')).toHaveLength(1);
  });

  it('tells the other processes before closing its own streams; a failed control message still closes them, and rejects', async () => {
    const open_: number[] = [];
    let fail = false;
    class Watched extends LocalControl {
      override send(topic: string, payload: JsonValue): Promise<void> {
        if (topic === 'revoke') open_.push(fx.ev.stats().connections);
        return fail ? Promise.reject(new Error('control down')) : super.send(topic, payload);
      }
    }
    const fx = await serveEvents({ keepAlive: false, control: new Watched() }, { authorize });
    cleanups.push(() => fx.close());
    const alice = [await open(fx, '/?channel=room:1', 'alice'), await open(fx, '/?channel=room:2', 'alice')];
    const bob = await open(fx, '/?channel=room:1', 'bob');
    await fx.ev.revoke({ sub: 'alice' });
    // Sent while all three streams were still open: the other processes need not wait for ours.
    expect(open_).toEqual([3]);
    for (const es of alice) await es.waitFor((c) => c.ended, 5000, 'alice to be closed');

    fail = true;
    const carol = await open(fx, '/?channel=room:1', 'carol');
    await expect(fx.ev.revoke({ sub: 'carol' })).rejects.toThrow('control down');
    await carol.waitFor((c) => c.ended, 5000, 'carol to be closed all the same');
    expect(condition(carol)).toBe('revoked');
    expect(bob.ended).toBe(false);
  });

  it('by token id, by channel, and by subject on one channel', async () => {
    const fx = await serve();
    const phone = await open(fx, '/?channel=room:1', 'carol', 'phone');
    const laptop = await open(fx, '/?channel=room:1', 'carol', 'laptop');
    await fx.ev.revoke({ tokenId: 'phone' });
    await phone.waitFor((c) => c.ended);
    const inRoom2 = await open(fx, '/?channel=room:2', 'dave');
    const daveInbox = await open(fx, '/?channel=user:dave:inbox', 'dave');
    await fx.ev.revoke({ sub: 'dave', channel: 'room:2' });
    await inRoom2.waitFor((c) => c.ended);
    const eveInRoom3 = await open(fx, '/?channel=room:3', 'eve');
    await fx.ev.revoke({ channel: 'room:3' });
    await eveInRoom3.waitFor((c) => c.ended);
    expect([condition(phone), condition(inRoom2), condition(eveInRoom3)]).toEqual([
      'revoked',
      'revoked',
      'revoked',
    ]);
    expect([laptop.ended, daveInbox.ended]).toEqual([false, false]);
    expect(condition(await open(fx, '/?channel=room:2', 'dave'))).toBe('revoked');
    expect((await open(fx, '/?channel=room:1', 'dave')).named('stream-open')).toHaveLength(1);
  });

  it('reaches a process that missed the message: the shared state is re-read on resync', async () => {
    // Two namespaces sharing state but not control: as two processes whose control channel failed.
    const state = new MemoryState();
    const a = events({ keepAlive: false, state });
    const b = events({ keepAlive: false, state });
    const server = await startServer(createHandler({ events: b, authorize }));
    cleanups.push(
      () => server.close(),
      () => a.close(),
      () => b.close(),
    );
    const es = await connect(server.url('/?channel=room:1'), {
      accept: 'text/event-stream',
      authorization: `Bearer ${await token('mallory')}`,
    });
    cleanups.push(() => es.close());
    await es.waitFor((c) => c.named('stream-open').length === 1);
    await a.revoke({ sub: 'mallory' });
    await new Promise((r) => setTimeout(r, 50));
    expect(es.ended).toBe(false);
    // What a shared control channel does after an outage.
    (b as unknown as Record<symbol, { engine: { control: { resync(): void } } }>)[
      Symbol.for('express-eventstream.core')
    ]!.engine.control.resync();
    await es.waitFor((c) => c.ended);
    expect(condition(es)).toBe('revoked');
  });

  it('checks its selector', async () => {
    const ev = events();
    cleanups.push(() => ev.close());
    await expect(ev.revoke({})).rejects.toThrow(InvalidOptionError);
    await expect(ev.revoke({ user: 'x' } as never)).rejects.toThrow(/unknown selector field/);
    await expect(ev.revoke({ sub: 'x' }, { ttlMs: 0 })).rejects.toThrow(InvalidOptionError);
  });
});
