// examples/token-stream on a real Redis (REDIS_URL): the server is killed with SIGKILL in the
// middle of an answer and started again on the same port and Redis. A reader that resumes with
// Last-Event-ID, as the browser's EventSource does, ends with exactly the chunks the dead process
// appended, each once and in order, then the documented `lost` ending; a reader that starts over
// gets the same events; and a new answer on the restarted server streams whole. Then the same in
// Chromium: the page's own EventSource reconnects to the restarted server and shows the answer's
// first tokens and the lost ending.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type BrowserSession, launchBrowser } from '../helpers/browser.js';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { connect, type SseClient, type SseEvent, until } from '../helpers/sse-client.js';
import { type ExampleProcess, startExample } from './example-process.js';

const answerModule = new URL('../../examples/token-stream/answer.mjs', import.meta.url).href;
const { ANSWER_TEXT, tokenize } = (await import(answerModule)) as {
  ANSWER_TEXT: string;
  tokenize(text: string): string[];
};
const TOKENS = tokenize(ANSWER_TEXT);
const LOST = { status: 'lost', message: 'the producing process stopped (its heartbeat expired)' };

let redis: RedisInstance;
let browser: BrowserSession | undefined;
const servers: ExampleProcess[] = [];
const clients: SseClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await browser?.close();
  for (const s of servers) await s.stop();
  await redis?.stop();
}, 60_000);

async function startServer(env: Record<string, string>): Promise<ExampleProcess> {
  const server = await startExample('token-stream', { REDIS_URL: redis.url, ...env });
  servers.push(server);
  return server;
}

async function ask(server: ExampleProcess): Promise<string> {
  const res = await fetch(new URL('answers', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ question: 'How does resuming work?' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function read(server: ExampleProcess, id: string, lastEventId?: string): Promise<SseClient> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  const client = await connect(new URL(`streams/${id}`, server.url).href, headers);
  clients.push(client);
  expect(client.status).toBe(200);
  return client;
}

const messages = (events: SseEvent[]) => events.filter((e) => e.event === 'message');
const ends = (events: SseEvent[]) => events.filter((e) => e.event === 'end');

describe('token stream example on Redis', () => {
  test('kill -9 mid-answer: the resumed reader ends with the appended chunks once, in order, then lost; a new answer works', async () => {
    // 100 ms a token: the answer takes ~7 s, far longer than the wait for its first tokens.
    const first = await startServer({ TOKEN_DELAY_MS: '100' });
    const id = await ask(first);
    const reader = await read(first, id);
    await reader.waitFor((c) => messages(c.events).length >= 10, 30_000, 'ten tokens');

    const exited = await first.stop('SIGKILL');
    expect(exited).toBe('SIGKILL');
    await until(() => reader.ended, 10_000, 'the cut connection');
    const seen = [...reader.events];
    expect(seen.length).toBeLessThan(TOKENS.length);
    expect(ends(seen)).toEqual([]);

    // The same port and Redis; the browser's EventSource would reconnect here with the last id.
    const second = await startServer({ PORT: String(first.port), TOKEN_DELAY_MS: '5' });
    const resumed = await read(second, id, seen.at(-1)!.id);
    // The lease is 5 heartbeats of 1 s: the ending comes within ~6 s; a loaded machine gets more.
    await resumed.waitFor((c) => ends(c.events).length > 0, 60_000, 'the lost ending');
    await until(() => resumed.ended, 10_000, 'the response to end after the ending');

    const all = [...seen, ...resumed.events];
    // Each id once, in increasing order, across the kill.
    const ids = all.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    const seqs = ids.map((i) => Number(String(i).split('-').at(-1)));
    expect(seqs.every((s, i) => Number.isInteger(s) && (i === 0 || s > seqs[i - 1]!))).toBe(true);
    // The chunks are the answer's first tokens, in order, each once; then one `lost` ending, last.
    const chunks = messages(all).map((e) => e.data);
    expect(chunks.length).toBeGreaterThanOrEqual(10);
    expect(chunks.length).toBeLessThan(TOKENS.length);
    expect(chunks).toEqual(TOKENS.slice(0, chunks.length));
    expect(ends(all).map((e) => JSON.parse(e.data))).toEqual([LOST]);
    expect(all.at(-1)!.event).toBe('end');

    // What the dead process appended is exactly what is stored: a reader from the start gets the
    // same events, ids included.
    const fresh = await read(second, id);
    await fresh.waitFor((c) => c.ended, 30_000, 'the whole stored stream');
    expect(fresh.events).toEqual(all);

    // The restarted server answers a new question whole.
    const next = await ask(second);
    const nextReader = await read(second, next);
    await nextReader.waitFor((c) => c.ended, 60_000, 'the new answer to end');
    expect(
      messages(nextReader.events)
        .map((e) => e.data)
        .join(''),
    ).toBe(ANSWER_TEXT);
    expect(ends(nextReader.events).map((e) => JSON.parse(e.data))).toEqual([{ status: 'done' }]);
  }, 180_000);

  test("in Chromium: the page's EventSource rides out the kill and shows the appended tokens, then lost", async () => {
    const [first, session] = await Promise.all([startServer({ TOKEN_DELAY_MS: '100' }), launchBrowser()]);
    browser = session;
    const page = await browser.newPage();
    await page.goto(first.url);
    await page.locator('#ask-form button[type="submit"]').click();
    await page.locator('#token-count', { hasText: /^([1-9]\d+)$/ }).waitFor({ timeout: 30_000 });
    const id = new URL(page.url()).searchParams.get('answer')!;

    expect(await first.stop('SIGKILL')).toBe('SIGKILL');
    const second = await startServer({ PORT: String(first.port), TOKEN_DELAY_MS: '5' });
    // EventSource retries on the same port with Last-Event-ID; the ending comes once the lease expires.
    await page.locator('#status', { hasText: 'lost' }).waitFor({ timeout: 60_000 });
    expect(await page.locator('#answer-error').textContent()).toBe(LOST.message);
    const shown = Number(await page.locator('#token-count').textContent());
    expect(shown).toBeGreaterThanOrEqual(10);
    expect(shown).toBeLessThan(TOKENS.length);
    expect(await page.locator('#answer-text').textContent()).toBe(TOKENS.slice(0, shown).join(''));

    // The page showed exactly what is stored: every chunk the dead process appended.
    const stored = await read(second, id);
    await stored.waitFor((c) => c.ended, 30_000, 'the whole stored stream');
    expect(messages(stored.events).length).toBe(shown);
    await page.close();
    // The cut response and the refused reconnects while the server was down are the expected failures.
    expect(
      browser.problems.filter(
        (p) => !p.includes('ERR_INCOMPLETE_CHUNKED_ENCODING') && !p.includes('ERR_CONNECTION_REFUSED'),
      ),
    ).toEqual([]);
  }, 180_000);
});
