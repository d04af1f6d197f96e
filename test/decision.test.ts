// The request decision without sockets: a RequestView in, a Verdict out (table-driven).

import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EventStoreError } from '../src/base/errors.js';
import { resolveGrip } from '../src/grip/grip-url.js';
import { createGripPlugin } from '../src/grip/plugin.js';
import { signRecoveryToken } from '../src/grip/recovery.js';
import { decide, type Endpoint, failure, type RequestHooks, type Verdict } from '../src/protocol/decision.js';
import { resolvePreamble } from '../src/protocol/preamble.js';
import type { RequestView } from '../src/protocol/request-view.js';

function view(url: string, headers: Record<string, string> = {}, method = 'GET'): RequestView {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method, url, header: (name) => lower[name] };
}

const KEY = 'changeme';
const SECRET = 'a-recovery-secret-of-some-length';
function gripSig(): string {
  const h = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'HS256' })).toString('base64url');
  const p = Buffer.from(
    JSON.stringify({ iss: 'pushpin', exp: Math.floor(Date.now() / 1000) + 3600 }),
  ).toString('base64url');
  return `${h}.${p}.${createHmac('sha256', KEY).update(`${h}.${p}`).digest('base64url')}`;
}

function endpoint(options: { grip?: boolean; reliable?: boolean; retry?: number } = {}): Endpoint {
  const grip = createGripPlugin(
    {
      proxies: options.grip ? resolveGrip(`http://127.0.0.1:5561?key=${KEY}`) : undefined,
      prefix: 'events-',
      keepAlive: { text: ':\n\n', intervalMs: 20_000 },
      reliable: options.reliable ? { secret: SECRET, linkTimeoutSec: 120 } : undefined,
    },
    false,
  );
  return {
    grip,
    access: { admit: async () => undefined },
    maxChannelsPerRequest: 3,
    maxChannelNameLength: 16,
    retry: options.retry,
    preamble: '',
    history: {
      initial: async (channels, preamble, lastEventId) => ({
        text: `${preamble}initial ${channels.join('+')} after ${lastEventId ?? '-'}\n\n`,
        lastIds: Object.fromEntries(channels.map((c) => [c, 'e-1'])),
      }),
      recovery: async (channels, positions) => ({
        text: `recovery ${channels.join('+')} ${JSON.stringify(positions)}\n\n`,
        lastIds: Object.fromEntries(channels.map((c) => [c, 'e-2'])),
      }),
    },
  };
}

const text = (v: Verdict) => ('body' in v ? new TextDecoder().decode(v.body) : '');
const SSE = { accept: 'text/event-stream' };

interface Row {
  name: string;
  view: RequestView;
  endpoint?: Endpoint;
  hooks?: RequestHooks;
  expect: Partial<Record<'kind' | 'status' | 'condition', unknown>> & {
    headers?: Record<string, string>;
    body?: string | RegExp;
    channels?: string[];
    lastEventId?: string;
  };
}

const rows: Row[] = [
  {
    name: 'OPTIONS',
    view: view('/e', {}, 'OPTIONS'),
    expect: { kind: 'answer', status: 204, headers: { Allow: 'GET, HEAD, OPTIONS' } },
  },
  {
    name: 'POST',
    view: view('/e', {}, 'POST'),
    expect: { kind: 'refuse', status: 405, body: /Method Not Allowed: POST/ },
  },
  {
    name: 'Accept excludes SSE',
    view: view('/e?channel=a', { accept: 'application/json' }),
    expect: { kind: 'refuse', status: 406 },
  },
  {
    name: 'Last-Event-ID: error',
    view: view('/e?channel=a', { 'last-event-id': 'error' }),
    expect: { kind: 'answer', status: 204, headers: { 'Cache-Control': 'no-store' } },
  },
  {
    name: 'no channel, plain client',
    view: view('/e'),
    expect: { kind: 'refuse', status: 400, condition: 'bad-request', body: /one or more channels/ },
  },
  {
    name: 'no channel, EventSource',
    view: view('/e', SSE),
    endpoint: endpoint({ retry: 500 }),
    expect: {
      kind: 'refuse',
      status: 200,
      condition: 'bad-request',
      body: /^event: stream-error\nid: error\nretry: 500\ndata: \{"condition":"bad-request"/,
    },
  },
  {
    name: 'too many channels',
    view: view('/e?channel=a&channel=b&channel=c&channel=d'),
    expect: { kind: 'refuse', status: 400, body: /Too many channels: 4/ },
  },
  {
    name: 'comma in a channel',
    view: view('/e?channel=a,b'),
    expect: { kind: 'refuse', status: 400, body: /repeat the parameter/ },
  },
  {
    name: 'duplicates collapse',
    view: view('/e?channel=a&channel=a&channel=b'),
    expect: { kind: 'stream', status: 200, channels: ['a', 'b'] },
  },
  {
    name: 'resume position from the header',
    view: view('/e?channel=a', { 'last-event-id': 'x-4' }),
    expect: { kind: 'stream', lastEventId: 'x-4' },
  },
  {
    name: 'resume position from the query',
    view: view('/e?channel=a&lastEventId=x-5'),
    expect: { kind: 'stream', lastEventId: 'x-5' },
  },
  {
    name: 'HEAD',
    view: view('/e?channel=a', {}, 'HEAD'),
    expect: { kind: 'answer', status: 200, headers: { 'Content-Type': 'text/event-stream; charset=utf-8' } },
  },
  {
    name: 'authorize denies, EventSource',
    view: view('/e?channel=a', SSE),
    hooks: { authorize: () => false },
    expect: { kind: 'refuse', status: 200, condition: 'forbidden' },
  },
  {
    name: 'authorize denies, plain',
    view: view('/e?channel=a'),
    hooks: { authorize: async () => false },
    expect: { kind: 'refuse', status: 403, condition: 'forbidden' },
  },
  {
    name: 'channels hook',
    view: view('/e'),
    hooks: { channels: async () => ['x', 'y'] },
    expect: { kind: 'stream', channels: ['x', 'y'] },
  },
  {
    name: 'Grip-Sig without GRIP configured: direct',
    view: view('/e?channel=a', { 'grip-sig': 'junk' }),
    expect: { kind: 'stream' },
  },
  {
    name: 'invalid Grip-Sig',
    view: view('/e?channel=a', { 'grip-sig': 'junk' }),
    endpoint: endpoint({ grip: true }),
    expect: { kind: 'refuse', status: 403, body: /^Forbidden: invalid Grip-Sig/ },
  },
  {
    name: 'OPTIONS is answered before the signature is checked',
    view: view('/e', { 'grip-sig': 'junk' }, 'OPTIONS'),
    endpoint: endpoint({ grip: true }),
    expect: { kind: 'answer', status: 204 },
  },
];

describe('decide(): request view → verdict', () => {
  it.each(rows)('$name', async (row) => {
    const verdict = await decide(row.view, row.endpoint ?? endpoint(), row.hooks);
    const { headers, body, ...fields } = row.expect;
    expect(verdict).toMatchObject(fields);
    if (headers) expect(verdict.headers).toMatchObject(headers);
    if (typeof body === 'string') expect(text(verdict)).toBe(body);
    else if (body) expect(text(verdict)).toMatch(body);
    if (verdict.kind !== 'stream' && 'body' in verdict) {
      const length = verdict.headers['Content-Length'];
      if (length !== undefined) expect(Number(length)).toBe(verdict.body.length);
    }
  });

  it('through a verified proxy: a hold with instructions and the initial body', async () => {
    const verdict = await decide(
      view('/e?channel=a', { 'grip-sig': gripSig(), 'last-event-id': 'e-3' }),
      endpoint({ grip: true }),
    );
    expect(verdict).toMatchObject({ kind: 'hold', status: 200, channels: ['a'] });
    expect(verdict.headers).toMatchObject({ 'Grip-Hold': 'stream', 'Grip-Channel': 'events-a' });
    expect(text(verdict)).toBe('initial a after e-3\n\n');
  });

  it('reliable mode: holds carry prev-id and a signed link; a recovery fetch gets what follows', async () => {
    const ep = endpoint({ grip: true, reliable: true });
    const hold = await decide(view('/e?channel=a&token=t', { 'grip-sig': gripSig() }), ep);
    // The build-id filter fills in each client's id: on one channel, just that channel's id.
    expect(hold.headers['Grip-Channel']).toBe('events-a; prev-id=e-1; filter=build-id');
    expect(hold.headers['Grip-Set-Meta']).toBe('id_format="%(events-a)s"');
    const link = /^<([^>]+)>; rel=next; timeout=120$/.exec(hold.headers['Grip-Link'] ?? '')?.[1];
    expect(link).toMatch(/^\/e\?channel=a&token=t&es-recover=/);
    const recover = await decide(
      view(link!, { 'grip-sig': gripSig(), 'grip-last': 'events-a; last-id=e-7' }),
      ep,
    );
    expect(recover).toMatchObject({ kind: 'recover', channels: ['a'] });
    expect(text(recover)).toBe('recovery a {"a":"e-7"}\n\n');
    // Without Grip-Last (a client replaying the link) it is an ordinary request: a new hold.
    expect((await decide(view(link!, { 'grip-sig': gripSig() }), ep)).kind).toBe('hold');
    // A forged token, or one authorize no longer allows: an empty 200 ends the proxy's stream.
    const forged = `${link!.slice(0, -4)}AAAA`;
    const empty = await decide(
      view(forged, { 'grip-sig': gripSig(), 'grip-last': 'events-a; last-id=e-7' }),
      ep,
    );
    expect(empty).toMatchObject({ kind: 'answer', status: 200, headers: { 'Content-Length': '0' } });
    const denied = await decide(
      view(link!, { 'grip-sig': gripSig(), 'grip-last': 'events-a; last-id=e-7' }),
      ep,
      {
        authorize: () => false,
      },
    );
    expect(denied).toMatchObject({ kind: 'answer', status: 200 });
    expect(signRecoveryToken(['a'], SECRET, 60)).toContain('.');
  });

  it('failure(): 503 with Retry-After when the history failed, else 500', () => {
    expect(failure(new EventStoreError({ cause: new Error('down') }))).toMatchObject({
      status: 503,
      headers: { 'Retry-After': '1' },
    });
    expect(failure(new Error('bug'))).toMatchObject({ status: 500 });
  });
});

describe('the preamble (padding, retry)', () => {
  const PAD = `:${' '.repeat(2048)}\n\n`;
  it('is one fixed text without retry or with a single delay', () => {
    expect(resolvePreamble(false, undefined).text()).toBe('');
    expect(resolvePreamble(true, undefined).text()).toBe(PAD);
    const fixed = resolvePreamble(true, 2500);
    expect(fixed.retry).toBe(2500);
    expect(fixed.text()).toBe(`${PAD}retry: 2500\n\n`);
  });

  it('draws from a range per stream, both ends included, after the shared padding', () => {
    const draws = [0, 0.5, 0.999_999_9];
    const range = resolvePreamble(true, { minDelayMs: 1000, maxDelayMs: 3000 }, () => draws.shift()!);
    expect(range.retry).toBe(1000);
    expect([range.text(), range.text(), range.text()]).toEqual([
      `${PAD}retry: 1000\n\n`,
      `${PAD}retry: 2000\n\n`,
      `${PAD}retry: 3000\n\n`,
    ]);
    const single = resolvePreamble(false, { minDelayMs: 7, maxDelayMs: 7 }, () => 0.999_999_9);
    expect(single.text()).toBe('retry: 7\n\n');
  });
});
