// `?channelField=1`: a stream whose events carry their channel in a `channel:` field (what the
// browser client's shared tabs split one stream by). Real server, raw client; the decision's
// refusals without sockets.
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveGrip } from '../src/grip/grip-url.js';
import { createGripPlugin } from '../src/grip/plugin.js';
import { decide, type Endpoint } from '../src/protocol/decision.js';
import { type EventsFixture, serveEvents } from './helpers/server.js';

let fx: EventsFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** The blocks of a body that carry an `id:` line and data (stored events), as raw text. */
const eventBlocks = (body: string) =>
  body.split('\n\n').filter((b) => /^id: /m.test(b) && /^data: /m.test(b) && !/stream-/.test(b));

describe('channelField', () => {
  it('tags live and replayed events with their channel; other streams get the same bytes as before', async () => {
    fx = await serveEvents({ keepAlive: false });
    const { ev } = fx;
    const plain = await fx.open('/?channel=a&channel=b');
    const tagged = await fx.open('/?channel=a&channel=b&channelField=1');
    for (const c of [plain, tagged]) await c.waitFor((x) => x.named('stream-open').length === 1);
    await ev.publish('a', { event: 'n', data: 1 });
    await ev.publish('b', { event: 'n', data: 2 });
    // One tick, one batch: the shared-write path of several events.
    await Promise.all([ev.publish('b', { event: 'n', data: 3 }), ev.publish('a', { event: 'n', data: 4 })]);
    for (const c of [plain, tagged]) await c.waitFor((x) => x.named('n').length === 4);
    expect(eventBlocks(plain.body).every((b) => !b.includes('channel:'))).toBe(true);
    const blocks = eventBlocks(tagged.body);
    expect(blocks.map((b) => /^channel: (.*)$/m.exec(b)?.[1])).toEqual(['a', 'b', 'b', 'a']);
    // Apart from the field, the bytes are the plain stream's.
    expect(blocks.map((b) => b.replace(/^channel: .*\n/, ''))).toEqual(eventBlocks(plain.body));
    expect(tagged.named('n').map((e) => e.data)).toEqual(['1', '2', '3', '4']);

    const firstId = tagged.named('n')[0]!.id!;
    const resumed = await fx.open(`/?channel=a&channel=b&channelField=1&lastEventId=${firstId}`);
    await resumed.waitFor((x) => x.named('n').length === 3);
    expect(eventBlocks(resumed.body).map((b) => /^channel: (.*)$/m.exec(b)?.[1])).toEqual(['b', 'b', 'a']);
  });

  it('a name with any allowed character is written as one field (no field can be injected)', async () => {
    fx = await serveEvents({ keepAlive: false });
    const name = 'a: b\u00e9 id: x data: y';
    const c = await fx.open(`/?channel=${encodeURIComponent(name)}&channelField=1`);
    await c.waitFor((x) => x.named('stream-open').length === 1);
    await fx.ev.publish(name, { event: 'n', data: 1 });
    await c.waitFor((x) => x.named('n').length === 1);
    expect(eventBlocks(c.body)[0]!.split('\n')[0]).toBe(`channel: ${name}`);
    expect(c.named('n')[0]).toMatchObject({ data: '1', id: expect.stringMatching(/-1$/) });
  });

  it('refuses any value but 1', async () => {
    fx = await serveEvents({ keepAlive: false });
    const c = await fx.open('/?channel=a&channelField=yes', { accept: '*/*' });
    await c.waitFor((x) => x.ended);
    expect(c.status).toBe(400);
    expect(c.body).toMatch(/channelField must be 1/);
  });
});

it('through a GRIP proxy the field is refused, not silently left out', async () => {
  const key = 'changeme';
  const h = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'HS256' })).toString('base64url');
  const p = Buffer.from(
    JSON.stringify({ iss: 'pushpin', exp: Math.floor(Date.now() / 1000) + 3600 }),
  ).toString('base64url');
  const sig = `${h}.${p}.${createHmac('sha256', key).update(`${h}.${p}`).digest('base64url')}`;
  const grip = createGripPlugin(
    {
      proxies: resolveGrip(`http://127.0.0.1:5561?key=${key}`),
      prefix: 'events-',
      keepAlive: { text: ':\n\n', intervalMs: 20_000 },
      reliable: undefined,
    },
    false,
  );
  const endpoint: Endpoint = {
    grip,
    access: { admit: async () => undefined },
    maxChannelsPerRequest: 3,
    maxChannelNameLength: 16,
    retry: undefined,
    preamble: '',
    history: {
      initial: async () => ({ text: '', lastIds: undefined }),
      recovery: async () => ({ text: '', lastIds: {} }),
    },
  };
  const headers: Record<string, string> = { 'grip-sig': sig, accept: '*/*' };
  const view = (url: string) => ({ method: 'GET', url, header: (n: string) => headers[n] });
  const verdict = await decide(view('/e?channel=a&channelField=1'), endpoint);
  expect(verdict).toMatchObject({ kind: 'refuse', status: 400 });
  expect('text' in verdict && verdict.text).toMatch(/not available through a GRIP proxy/);
  expect((await decide(view('/e?channel=a'), endpoint)).kind).toBe('hold');
});
