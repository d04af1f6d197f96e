// express-eventstream/ai across two processes sharing Redis: the answer is produced by one, the
// resume request (the AI SDK's own DefaultChatTransport) goes to the other; byte for byte what the
// original response carried, 204 after the end, and a stop sent to either process aborts the model.
import { DefaultChatTransport, readUIMessageStream, type UIMessage } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisInstance, startRedis } from '../helpers/redis.js';
import { until } from '../helpers/sse-client.js';
import { type ChatProcess, startChatProcess } from './chat-process.js';

const cleanups: Array<() => Promise<void> | void> = [];
let redis: RedisInstance;
let a: ChatProcess;
let b: ChatProcess;
const TOKENS = 40;
const whole = Array.from({ length: TOKENS }, (_, i) => `t${i} `).join('');

beforeAll(async () => {
  redis = await startRedis();
  cleanups.push(() => redis.stop());
  const env = { REDIS_URL: redis.url, NS: 'ai-test', TOKENS: String(TOKENS) };
  [a, b] = await Promise.all([startChatProcess(env, cleanups), startChatProcess(env, cleanups)]);
}, 60_000);
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** useChat's request to `server`, its body read as it arrives. */
async function ask(server: ChatProcess, chatId: string) {
  const res = await fetch(server.url('/api/chat'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      id: chatId,
      messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: 'hello' }] }],
      trigger: 'submit-message',
    }),
  });
  expect(res.status).toBe(200);
  return readBody(res);
}

function readBody(res: Response) {
  const state = { text: '', done: false };
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) state.text += decoder.decode(chunk as Uint8Array, { stream: true });
    state.done = true;
  })();
  return { state, reading };
}

const withoutIds = (text: string) => text.replace(/^id: [^\n]*\n/gm, '');

/** The assistant message the SDK's client builds from a stream. */
async function messageOf(
  stream: ReadableStream<import('ai').UIMessageChunk>,
): Promise<UIMessage | undefined> {
  let last: UIMessage | undefined;
  for await (const message of readUIMessageStream({ stream })) last = message;
  return last;
}
const textOf = (message: UIMessage | undefined) =>
  (message?.parts ?? []).map((part) => (part.type === 'text' ? part.text : '')).join('');

describe('express-eventstream/ai across processes', () => {
  it('a resume on the other process mid-answer gets byte for byte what the original response carried (ids aside), and the SDK builds the whole answer', async () => {
    const original = await ask(a, 'chat-1');
    await a.release(10);
    await until(() => original.state.text.includes('t9 '), 20_000, 'ten tokens on the original response');
    const transport = new DefaultChatTransport({ api: b.url('/api/chat') });
    const resumed = await fetch(b.url('/api/chat/chat-1/stream'));
    expect(resumed.status).toBe(200);
    expect(resumed.headers.get('content-type')).toBe('text/event-stream');
    const replay = readBody(resumed);
    const sdkStream = await transport.reconnectToStream({ chatId: 'chat-1' });
    expect(sdkStream).not.toBeNull();
    const sdkMessage = messageOf(sdkStream!);
    await until(
      () => replay.state.text.includes('t9 '),
      20_000,
      'the first ten tokens on the resumed response',
    );
    await a.release(TOKENS - 10);
    await Promise.all([original.reading, replay.reading]);
    expect(original.state.text).toContain('data: [DONE]');
    expect(withoutIds(replay.state.text)).toBe(original.state.text);
    expect(replay.state.text).toMatch(/^id: \w+-\d+\ndata: \{"type":"start"/);
    expect(textOf(await sdkMessage)).toBe(whole);
  }, 60_000);

  it('after the end a resume gets 204, which the SDK reads as nothing to resume', async () => {
    const original = await ask(a, 'chat-2');
    await a.release(TOKENS);
    await original.reading;
    // The chat's entry says done once the last chunk is stored; the response may end just before.
    await until(
      async () => (await fetch(b.url('/api/chat/chat-2/stream'))).status === 204,
      20_000,
      'the 204',
    );
    const transport = new DefaultChatTransport({ api: b.url('/api/chat') });
    expect(await transport.reconnectToStream({ chatId: 'chat-2' })).toBeNull();
    expect((await fetch(b.url('/api/chat/never-asked/stream'))).status).toBe(204);
    expect((await fetch(b.url('/api/chat/bad%20id/stream'))).status).toBe(400);
  }, 60_000);

  it('a stop request to the other process aborts the model on the producing one; a resume then ends with the abort chunk', async () => {
    const before = await a.model();
    const original = await ask(a, 'chat-3');
    await a.release(3);
    await until(() => original.state.text.includes('t2 '), 20_000, 'three tokens');
    const resumed = readBody(await fetch(b.url('/api/chat/chat-3/stream')));
    await until(() => resumed.state.text.includes('t2 '), 20_000, 'three tokens on the resume');
    const stop = await fetch(b.url('/api/chat/chat-3/stream'), { method: 'DELETE' });
    expect(stop.status).toBe(202);
    await until(
      async () => (await a.model()).aborted === before.aborted + 1,
      20_000,
      "the model's abortSignal",
    );
    await resumed.reading;
    expect(resumed.state.text).toMatch(
      /data: \{"type":"abort","reason":"response stream \\"chat-3\.\w+\\": a client stopped this stream"\}\n\ndata: \[DONE\]\n\n$/,
    );
    expect(resumed.state.text).not.toContain('t3 ');
    await original.reading;
    // What the original response ended with, the resume ends with too.
    expect(original.state.text.slice(original.state.text.lastIndexOf('data: {"type":"abort"'))).toBe(
      resumed.state.text.slice(resumed.state.text.lastIndexOf('data: {"type":"abort"')),
    );
  }, 60_000);

  it('a disconnect is not a stop: the answer goes on and a later resume gets all of it', async () => {
    const before = await a.model();
    const controller = new AbortController();
    const res = await fetch(a.url('/api/chat'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'chat-4',
        messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: 'x' }] }],
      }),
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    controller.abort();
    const resumed = readBody(await fetch(b.url('/api/chat/chat-4/stream')));
    await a.release(TOKENS);
    await resumed.reading;
    expect(resumed.state.text).toContain('data: [DONE]');
    expect(resumed.state.text).not.toContain('"type":"abort"');
    expect(withoutIds(resumed.state.text).match(/"delta":"t\d+ "/g)).toHaveLength(TOKENS);
    expect((await a.model()).aborted).toBe(before.aborted);
  }, 60_000);
});
