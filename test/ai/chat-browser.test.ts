// `express-eventstream/ai` with the AI SDK's own client: a `useChat({ resume: true })` React page
// in headless Chromium against a chat server process (the SDK's test model, tokens released by
// the test). A reload mid-answer completes the answer with nothing lost or doubled; a reload after
// the end resumes nothing (204); the page's stop aborts the model on the server.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserSession, launchBrowser } from '../helpers/browser.js';
import { until } from '../helpers/sse-client.js';
import { type ChatProcess, startChatProcess } from './chat-process.js';

const TOKENS = 30;
const whole = Array.from({ length: TOKENS }, (_, i) => `t${i} `).join('');

const APP = `
import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport } from 'ai';
const id = new URLSearchParams(location.search).get('chat');
const transport = new DefaultChatTransport({ api: '/api/chat' });
function App() {
  const { messages, status, sendMessage, stop } = useChat({ id, resume: true, transport });
  const answer = messages.filter((m) => m.role === 'assistant').map((m) => m.parts.map((p) => p.type === 'text' ? p.text : '').join('')).join('|');
  const stopAnswer = () => {
    fetch('/api/chat/' + encodeURIComponent(id) + '/stream', { method: 'DELETE' });
    stop();
  };
  return h('div', null,
    h('p', { id: 'status' }, status),
    h('p', { id: 'answers' }, String(messages.filter((m) => m.role === 'assistant').length)),
    h('pre', { id: 'answer' }, answer),
    h('button', { id: 'ask', onClick: () => sendMessage({ text: 'hello' }) }, 'ask'),
    h('button', { id: 'stop', onClick: stopAnswer }, 'stop'));
}
createRoot(document.getElementById('root')).render(h(App));
`;

const cleanups: Array<() => Promise<void> | void> = [];
let browser: BrowserSession;
let server: ChatProcess;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ees-ai-page-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const bundle = await build({
    stdin: { contents: APP, resolveDir: fileURLToPath(new URL('../../', import.meta.url)), loader: 'js' },
    bundle: true,
    write: false,
    format: 'esm',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  await writeFile(join(dir, 'app.js'), bundle.outputFiles[0]!.text);
  await writeFile(
    join(dir, 'index.html'),
    '<!doctype html><div id="root"></div><script type="module" src="/app.js"></script>',
  );
  server = await startChatProcess({ TOKENS: String(TOKENS), STATIC_DIR: dir }, cleanups);
  browser = await launchBrowser();
  cleanups.push(() => browser.close());
}, 150_000);
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const answerOf = async (page: Page) => (await page.textContent('#answer')) ?? '';
const statusOf = async (page: Page) => (await page.textContent('#status')) ?? '';

describe('useChat({ resume: true }) against express-eventstream/ai', () => {
  it('a reload mid-answer resumes it: the answer completes, nothing lost or doubled', async () => {
    const page = await browser.newPage();
    await page.goto(server.url('/?chat=reload-1'));
    await until(async () => (await statusOf(page)) === 'ready', 30_000, 'the page');
    await page.click('#ask');
    await server.release(10);
    await until(async () => (await answerOf(page)).includes('t9 '), 30_000, 'ten tokens');
    await page.reload();
    await until(async () => (await answerOf(page)).includes('t9 '), 30_000, 'the resumed tokens');
    expect(await statusOf(page)).toBe('streaming');
    await server.release(TOKENS - 10);
    await until(async () => (await statusOf(page)) === 'ready', 30_000, 'the whole answer');
    expect(await answerOf(page)).toBe(whole);
    expect(await page.textContent('#answers')).toBe('1');
    expect(browser.problems).toEqual([]);
    await page.close();
  }, 90_000);

  it('a reload after the end resumes nothing (204), without an error', async () => {
    const page = await browser.newPage();
    await page.goto(server.url('/?chat=reload-2'));
    await until(async () => (await statusOf(page)) === 'ready', 30_000, 'the page');
    await page.click('#ask');
    await server.release(TOKENS);
    await until(async () => (await answerOf(page)) === whole, 30_000, 'the whole answer');
    await until(async () => (await statusOf(page)) === 'ready', 30_000, 'ready');
    const resumes: number[] = [];
    page.on('response', (res) => {
      if (res.url().endsWith('/api/chat/reload-2/stream')) resumes.push(res.status());
    });
    // The chat's entry is marked done once the last chunk is stored (just after the response ends).
    await until(
      async () => {
        resumes.length = 0;
        await page.reload();
        await until(() => resumes.length === 1, 30_000, 'the resume request');
        return resumes[0] === 204;
      },
      30_000,
      'the 204',
    );
    await until(async () => (await statusOf(page)) === 'ready', 30_000, 'ready');
    expect(await answerOf(page)).toBe('');
    expect(browser.problems).toEqual([]);
    await page.close();
  }, 90_000);

  it("the page's stop button aborts the model on the server", async () => {
    const before = await server.model();
    const page = await browser.newPage();
    await page.goto(server.url('/?chat=stop-1'));
    await until(async () => (await statusOf(page)) === 'ready', 30_000, 'the page');
    await page.click('#ask');
    await server.release(3);
    await until(async () => (await answerOf(page)).includes('t2 '), 30_000, 'three tokens');
    await page.click('#stop');
    await until(
      async () => (await server.model()).aborted === before.aborted + 1,
      30_000,
      "the model's abortSignal",
    );
    await until(async () => (await statusOf(page)) === 'ready', 30_000, 'ready');
    expect(await answerOf(page)).toBe('t0 t1 t2 ');
    await page.close();
  }, 90_000);
});
