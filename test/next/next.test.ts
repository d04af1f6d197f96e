// Next.js App Router: a route handler in a minimal app (test/fixtures/next-app), built with
// `next build` and served by `next start`. Runs as `npm run test:next` (the build takes ~45 s
// on the CI machine; .ci/run runs it after `npm test`).
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAndStartNext, type NextApp } from '../helpers/next.js';
import { connect, type SseClient } from '../helpers/sse-client.js';

const fixture = fileURLToPath(new URL('../fixtures/next-app', import.meta.url));

describe('Next.js route handler (next build + next start)', () => {
  let app: NextApp;
  const clients: SseClient[] = [];

  beforeAll(async () => {
    app = await buildAndStartNext(fixture);
    console.log(`next build took ${app.buildMs} ms`);
  }, 240_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await app?.stop();
  });

  async function post(text: string): Promise<{ streams: number }> {
    const res = await fetch(app.url('/events'), { method: 'POST', body: text });
    expect(res.status).toBe(200);
    return (await res.json()) as { streams: number };
  }

  it('streams without buffering: events arrive while the response is open, uncompressed', async () => {
    const c = await connect(app.url('/events'), { accept: 'text/event-stream', 'accept-encoding': 'gzip' });
    clients.push(c);
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(c.headers['content-encoding']).toBeUndefined();
    // The stream never ends on its own: if Next held the body back, nothing would arrive.
    await c.waitFor((x) => x.named('open').length === 1, 10_000, 'the first event');
    expect(await post('hello')).toEqual({ streams: 1 });
    await c.waitFor((x) => x.named('message').length === 1, 10_000, 'the posted message');
    expect(JSON.parse(c.named('message')[0]!.data)).toEqual({ text: 'hello' });
    expect(c.ended).toBe(false);
  });

  it("tells the route when the client leaves (request.signal or the stream's cancel)", async () => {
    for (const c of clients.splice(0)) c.close();
    const c = await connect(app.url('/events'), { accept: 'text/event-stream' });
    await c.waitFor((x) => x.named('open').length === 1, 10_000, 'the first event');
    expect((await post('x')).streams).toBe(1);
    c.close();
    // The route counts its open streams in each POST answer: poll until it has let this one go.
    let streams = -1;
    const start = Date.now();
    while (Date.now() - start < 5000) {
      streams = (await post('probe')).streams;
      if (streams === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(streams).toBe(0);
  });
});
