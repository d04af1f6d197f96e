// createHandler through node:http2's compat API (createSecureServer with allowHTTP1): HTTP/2
// clients get a clean event stream without connection-specific headers, several streams share
// one session, and HTTP/1.1 clients of the same TLS server keep working.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createParser } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events as createEvents, createHandler, type DisconnectInfo, type Events } from '../src/index.js';
import { until } from './helpers/sse-client.js';

interface Collected {
  events: Array<{ event: string; data: string; id: string | undefined }>;
  body: string;
  ended: boolean;
}

/** Parse an SSE body as it arrives; the stream must emit strings or Buffers. */
function collect(stream: Readable): Collected {
  const out: Collected = { events: [], body: '', ended: false };
  const parser = createParser({
    onEvent: (m) => out.events.push({ event: m.event ?? 'message', data: m.data, id: m.id }),
  });
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    out.body += chunk;
    parser.feed(chunk);
  });
  stream.on('end', () => {
    out.ended = true;
  });
  stream.on('error', () => {
    out.ended = true;
  });
  return out;
}

const named = (c: Collected, event: string) => c.events.filter((e) => e.event === event);

let dir: string;
let key: Buffer;
let cert: Buffer;
let ev: Events;
let server: http2.Http2SecureServer;
let origin: string;
const disconnects: DisconnectInfo[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sse-h2-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-days',
      '1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'pipe', timeout: 20_000 },
  );
  key = readFileSync(join(dir, 'key.pem'));
  cert = readFileSync(join(dir, 'cert.pem'));
  ev = createEvents({ keepAlive: false });
  ev.on('disconnect', (d) => disconnects.push(d));
  server = http2.createSecureServer({ allowHTTP1: true, key, cert }, createHandler({ events: ev }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await ev?.close();
  if (server) {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await closed;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function h2Session(): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(origin, { ca: cert });
  session.on('error', () => {});
  await once(session, 'connect');
  expect(session.alpnProtocol).toBe('h2');
  return session;
}

async function h2Get(
  session: http2.ClientHttp2Session,
  path: string,
  accept = 'text/event-stream',
): Promise<{ stream: http2.ClientHttp2Stream; headers: http2.IncomingHttpHeaders; body: Collected }> {
  const stream = session.request({ ':path': path, accept });
  const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  return { stream, headers, body: collect(stream) };
}

describe('HTTP/2 (compat API)', () => {
  it('streams events with valid HTTP/2 headers, several streams on one session', async () => {
    const session = await h2Session();
    try {
      const clock = await h2Get(session, '/?channel=clock');
      const both = await h2Get(session, '/?channel=clock&channel=news');
      for (const { headers } of [clock, both]) {
        expect(headers[':status']).toBe(200);
        expect(headers['content-type']).toBe('text/event-stream; charset=utf-8');
        expect(headers['cache-control']).toBe('no-cache, no-transform');
        // Connection-specific headers are illegal in HTTP/2 (RFC 9113 §8.2.2).
        for (const name of ['connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'proxy-connection']) {
          expect(headers[name], name).toBeUndefined();
        }
      }
      await until(() => named(clock.body, 'stream-open').length === 1, 5000, 'stream-open on clock');
      await until(() => named(both.body, 'stream-open').length === 1, 5000, 'stream-open on both');
      await until(() => ev.stats().connections === 2, 5000, 'two subscribers');

      await ev.publish('clock', { event: 'time', data: { t: 1 } });
      await ev.publish('news', { event: 'story', data: 'h2 works' });
      await ev.publish('clock', { event: 'time', data: { t: 2 } });
      await until(() => named(clock.body, 'time').length === 2, 5000, 'clock events');
      await until(() => both.body.events.length === 4, 5000, 'clock+news events');
      expect(named(clock.body, 'time').map((e) => e.data)).toEqual(['{"t":1}', '{"t":2}']);
      expect(both.body.events.slice(1).map((e) => [e.event, e.data])).toEqual([
        ['time', '{"t":1}'],
        ['story', '"h2 works"'],
        ['time', '{"t":2}'],
      ]);
      expect(named(clock.body, 'story')).toHaveLength(0);

      // Closing one HTTP/2 stream releases its subscription; the other keeps receiving.
      const before = disconnects.length;
      clock.stream.close(http2.constants.NGHTTP2_CANCEL);
      await until(() => ev.stats().connections === 1, 5000, 'cancelled stream released');
      expect(disconnects.slice(before)).toEqual([{ channels: ['clock'], reason: 'client' }]);
      await ev.publish('news', { event: 'story', data: 'still here' });
      await until(() => named(both.body, 'story').length === 2, 5000, 'event after the other stream closed');
      both.stream.close(http2.constants.NGHTTP2_CANCEL);
      await until(() => ev.stats().connections === 0, 5000, 'all streams released');
    } finally {
      session.destroy();
    }
  });

  it('answers refusals over HTTP/2: stream-error for EventSource, status codes otherwise', async () => {
    const session = await h2Session();
    try {
      const sse = await h2Get(session, '/');
      expect(sse.headers[':status']).toBe(200);
      expect(sse.headers.connection).toBeUndefined();
      await until(() => sse.body.ended, 5000, 'stream-error response to end');
      const [err] = named(sse.body, 'stream-error');
      expect(err?.id).toBe('error');
      expect(JSON.parse(err?.data ?? '{}')).toMatchObject({ condition: 'bad-request' });

      const plain = await h2Get(session, '/?channel=a,b', 'text/plain, */*');
      expect(plain.headers[':status']).toBe(400);
      await until(() => plain.body.ended, 5000, '400 body');
      expect(plain.body.body).toContain('Invalid channel');
    } finally {
      session.destroy();
    }
  });

  it('drops an HTTP/2 stream that stops reading, while another session keeps receiving', async () => {
    const small = createEvents({ keepAlive: false, history: false, maxBufferBytes: 64 * 1024 });
    const handler = createHandler({ events: small });
    const responses: http2.Http2ServerResponse[] = [];
    const h2 = http2.createSecureServer({ allowHTTP1: true, key, cert }, (req, res) => {
      responses.push(res);
      handler(req, res);
    });
    h2.listen(0, '127.0.0.1');
    await once(h2, 'listening');
    const url = `https://127.0.0.1:${(h2.address() as AddressInfo).port}`;
    const reasons: string[] = [];
    small.on('disconnect', (d) => reasons.push(d.reason));
    const slowSession = http2.connect(url, { ca: cert });
    const fastSession = http2.connect(url, { ca: cert });
    slowSession.on('error', () => {});
    fastSession.on('error', () => {});
    try {
      const slow = slowSession.request({ ':path': '/?channel=flood', accept: 'text/event-stream' });
      slow.on('error', () => {});
      await once(slow, 'response');
      slow.pause(); // stop consuming: flow-control windows stop opening
      const fast = fastSession.request({ ':path': '/?channel=flood', accept: 'text/event-stream' });
      await once(fast, 'response');
      const body = collect(fast);
      await until(() => small.stats().connections === 2, 5000, 'two subscribers');
      const payload = 'y'.repeat(4096);
      let published = 0;
      while (small.stats().slowClientsDropped === 0) {
        if (published > 16_384) throw new Error('the paused HTTP/2 stream was never dropped');
        await Promise.all(
          [0, 1, 2, 3].map(() =>
            small.publish('flood', { event: 'f', id: String(published++), data: payload }),
          ),
        );
        const want = published;
        await until(() => named(body, 'f').length >= want, 5000, `fast stream to get ${want} events`);
      }
      expect(reasons).toEqual(['slow']);
      expect(small.stats().connections).toBe(1);
      // The dropped stream is torn down on the server with its buffered bytes, not left
      // waiting for a client that never reads (which would also keep its session alive).
      const slowStream = responses[0]!.stream;
      await until(() => slowStream.destroyed, 5000, 'the dropped HTTP/2 stream to be destroyed');
      expect(slowStream.writableLength).toBe(0);
      expect(responses[1]!.stream.destroyed).toBe(false);
      await small.publish('flood', { event: 'f', id: 'last', data: 'last' });
      await until(() => named(body, 'f').at(-1)?.id === 'last', 5000, 'event after the drop');
      expect(named(body, 'f')).toHaveLength(published + 1);
    } finally {
      slowSession.destroy();
      fastSession.destroy();
      await small.close();
      const closed = new Promise<boolean>((resolve) => h2.close(() => resolve(true)));
      const bounded = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000).unref());
      expect(await Promise.race([closed, bounded]), 'server closes once its sessions are gone').toBe(true);
    }
  });

  it('serves HTTP/1.1 clients of the same TLS server (allowHTTP1)', async () => {
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = https.get(
        `${origin}/?channel=legacy`,
        { ca: cert, agent: false, headers: { accept: 'text/event-stream' } },
        resolve,
      );
      req.on('error', reject);
    });
    try {
      expect(res.httpVersion).toBe('1.1');
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
      const body = collect(res);
      await until(() => named(body, 'stream-open').length === 1, 5000, 'stream-open over HTTP/1.1');
      await until(() => ev.stats().subscribers.legacy === 1, 5000, 'legacy subscriber');
      for (let i = 0; i < 3; i++) await ev.publish('legacy', { event: 'n', data: i });
      await until(() => named(body, 'n').length === 3, 5000, 'three events over HTTP/1.1');
      expect(named(body, 'n').map((e) => e.data)).toEqual(['0', '1', '2']);
    } finally {
      res.destroy();
    }
    await until(() => ev.stats().connections === 0, 5000, 'HTTP/1.1 stream released');
  });
});
