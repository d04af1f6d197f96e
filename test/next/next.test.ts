// Next.js App Router: fetchHandler as a route handler (`export const GET = fetchHandler(...)`)
// in a minimal app (test/fixtures/next-app), built with `next build` and served by `next start`.
// Runs as `npm run test:next` (the build takes ~45 s on the CI machine; .ci/run runs it after
// `npm test`).
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildAndStartNext, type NextApp } from '../helpers/next.js';
import { connect, request, type SseClient } from '../helpers/sse-client.js';

const fixture = fileURLToPath(new URL('../fixtures/next-app', import.meta.url));

describe('Next.js route handler (next build + next start)', () => {
  let app: NextApp;
  const clients: SseClient[] = [];

  beforeAll(async () => {
    app = await buildAndStartNext(fixture);
    console.log(`next build took ${app.buildMs} ms`);
  }, 240_000);
  // Each test starts with no open connection: its clients leave, and the route let them go.
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await expectAllReleased();
  });
  afterAll(async () => {
    await app?.stop();
  });

  /** Publishes `text` on channel `messages`; the route answers its open connections. */
  async function post(text: string): Promise<{ connections: number }> {
    const res = await fetch(app.url('/events'), { method: 'POST', body: text });
    expect(res.status).toBe(200);
    return (await res.json()) as { connections: number };
  }

  /** Each POST answers the open connections: poll until the route has none left. */
  async function expectAllReleased(): Promise<void> {
    let connections = -1;
    const start = Date.now();
    // Generous: the release is immediate, but a loaded machine may answer the POSTs slowly.
    while (Date.now() - start < 20_000) {
      connections = (await post('probe')).connections;
      if (connections === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(connections).toBe(0);
  }

  it('streams without buffering: stream-open, then each event while the response is open, uncompressed', async () => {
    const c = await connect(app.url('/events?channel=messages'), {
      accept: 'text/event-stream',
      'accept-encoding': 'gzip',
    });
    clients.push(c);
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(c.headers['cache-control']).toBe('no-cache, no-transform');
    expect(c.headers['content-encoding']).toBeUndefined();
    // The stream never ends on its own: if Next held the body back, nothing would arrive.
    await c.waitFor((x) => x.named('stream-open').length === 1, 10_000, 'stream-open');
    expect(await post('hello')).toEqual({ connections: 1 });
    await c.waitFor((x) => x.named('message').length === 1, 10_000, 'the posted message');
    expect(await post('again')).toEqual({ connections: 1 });
    await c.waitFor((x) => x.named('message').length === 2, 10_000, 'the second message');
    expect(c.named('message').map((e) => JSON.parse(e.data))).toEqual([{ text: 'hello' }, { text: 'again' }]);
    expect(c.ended).toBe(false);
  });

  it('resumes after Last-Event-ID and refuses bad requests as the other entry points do', async () => {
    // Its own first connection: nothing carried over from the test before.
    const first = await connect(app.url('/events?channel=messages'), { accept: 'text/event-stream' });
    clients.push(first);
    await first.waitFor((x) => x.named('stream-open').length === 1, 10_000, 'stream-open');
    await post('one');
    await post('two');
    await first.waitFor((x) => x.named('message').length === 2, 10_000, 'two messages');
    const seen = first.named('message');
    expect(seen.map((e) => JSON.parse(e.data))).toEqual([{ text: 'one' }, { text: 'two' }]);
    const again = await connect(app.url('/events?channel=messages'), {
      accept: 'text/event-stream',
      'last-event-id': seen[0]!.id!,
    });
    clients.push(again);
    await again.waitFor((x) => x.named('message').length === 1, 10_000, 'the replay');
    // Exactly the missed one, then live.
    await post('three');
    await again.waitFor((x) => x.named('message').length === 2, 10_000, 'the live message');
    expect(again.named('message')[0]).toEqual(seen[1]);
    expect(again.named('message').map((e) => JSON.parse(e.data))).toEqual([
      { text: 'two' },
      { text: 'three' },
    ]);
    const bad = await request(app.url('/events?channel=a%3Bb'), { headers: { accept: '*/*' } });
    expect(bad.status).toBe(400);
    const json = await request(app.url('/events?channel=a'), { headers: { accept: 'application/json' } });
    expect(json.status).toBe(406);
  });

  it('releases the subscription when the client leaves', async () => {
    const c = await connect(app.url('/events?channel=messages'), { accept: 'text/event-stream' });
    await c.waitFor((x) => x.named('stream-open').length === 1, 10_000, 'stream-open');
    expect((await post('x')).connections).toBe(1);
    c.close();
    await expectAllReleased();
  });
});
