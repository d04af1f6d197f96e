// examples/token-stream in real Chromium: the answer (a response stream) is cut twice while it
// streams — once by the server dropping the connection, once by a page reload — and still ends up
// exactly the full text, with no token repeated or lost; then a second answer is stopped.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type BrowserSession, launchBrowser, saveScreenshot } from '../helpers/browser.js';
import { type ExampleProcess, startExample } from './example-process.js';
import type { PageGlobals } from './page-dom.js';

// The example's fixed answer (plain JavaScript without declarations, hence the computed import).
const answerModule = new URL('../../examples/token-stream/answer.mjs', import.meta.url).href;
const { ANSWER_TEXT, tokenize } = (await import(answerModule)) as {
  ANSWER_TEXT: string;
  tokenize(text: string): string[];
};
const TOTAL = tokenize(ANSWER_TEXT).length;

let server: ExampleProcess;
let browser: BrowserSession;

beforeAll(async () => {
  [server, browser] = await Promise.all([
    // 80 ms a token: the answer takes ~6 s, room for both interruptions on a busy machine.
    startExample('token-stream', { EXAMPLE_TEST_HOOKS: '1', TOKEN_DELAY_MS: '80' }),
    launchBrowser(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

function waitForTokens(page: Page, count: number): Promise<unknown> {
  return page.waitForFunction(
    (n) =>
      Number((globalThis as unknown as PageGlobals).document.getElementById('token-count')?.textContent) >= n,
    count,
    {
      timeout: 15_000,
    },
  );
}

const tokenCount = async (page: Page): Promise<number> =>
  Number(await page.locator('#token-count').textContent());

describe('token stream example', () => {
  test('a dropped connection and a reload mid-answer lose and repeat nothing', async () => {
    expect(TOTAL).toBeGreaterThan(60);
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.locator('#ask-form button[type="submit"]').click();
    await waitForTokens(page, 10);

    // 1. The server cuts the stream; the browser reconnects with Last-Event-ID.
    const drop = await fetch(new URL('test/drop', server.url), { method: 'POST' });
    expect(((await drop.json()) as { dropped: number }).dropped).toBe(1);
    await page.locator('#resume-note', { hasText: 'resumed' }).waitFor({ timeout: 15_000 });
    const afterDrop = await tokenCount(page);

    // 2. Reload the page while tokens are still coming: the page opens the stream with
    //    ?lastEventId= from the id it kept in sessionStorage, next to the text it had shown.
    await waitForTokens(page, afterDrop + 5);
    expect(await page.locator('#answer-text').getAttribute('data-done')).toBe('false');
    const beforeReload = await tokenCount(page);
    expect(beforeReload).toBeLessThan(TOTAL);
    await page.reload();
    expect(new URL(page.url()).searchParams.get('answer')).not.toBeNull();
    await page.locator('#resume-note', { hasText: 'resumed' }).waitFor({ timeout: 15_000 });

    await page.locator('#answer-text[data-done="true"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('#answer-text').textContent()).toBe(ANSWER_TEXT);
    expect(await tokenCount(page)).toBe(TOTAL);
    await saveScreenshot(page, 'example-token-stream');
    await page.close();
    // The cut stream is the one expected failure.
    expect(browser.problems.filter((p) => !p.includes('ERR_INCOMPLETE_CHUNKED_ENCODING'))).toEqual([]);
  });
  test('Stop ends the answer as stopped on every reader; the text stops growing', async () => {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.locator('#ask-form button[type="submit"]').click();
    await waitForTokens(page, 5);
    await page.locator('#stop').click();
    await page.locator('#status', { hasText: 'stopped' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('#answer-text').getAttribute('data-done')).toBe('true');
    const shown = await tokenCount(page);
    expect(shown).toBeLessThan(TOTAL);
    // A fresh reader of the same answer gets the same stopped text, and nothing after it.
    const id = new URL(page.url()).searchParams.get('answer')!;
    const replay = await fetch(new URL(`streams/${id}`, server.url), {
      headers: { accept: 'text/event-stream' },
    });
    const body = await replay.text();
    expect(body).toContain('"status":"stopped"');
    expect(body.match(/^data: /gm)?.length).toBe(shown + 1);
    await page.close();
  });
});
