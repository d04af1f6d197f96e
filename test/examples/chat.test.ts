// examples/chat in real Chromium: two users in two browser contexts (separate cookie jars).
// Room membership is enforced on the stream (stream-error forbidden, shown in the page) and on
// posting; members of a room see each other's messages, in the order they were sent; each page
// lists who is in the room (presence), kept current by presence-join / presence-leave.
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CHROMIUM_ARGS, CHROMIUM_PATH, ensureChromium, saveScreenshot } from '../helpers/browser.js';
import { type ExampleProcess, startExample } from './example-process.js';
import type { PageGlobals } from './page-dom.js';

let chat: ExampleProcess;
let browser: Browser;
const problems: string[] = [];

beforeAll(async () => {
  await ensureChromium();
  [chat, browser] = await Promise.all([
    startExample('chat'),
    chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS], headless: true }),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await chat?.stop();
});

/** A logged-in page in its own context, showing the general room with its stream open. */
async function logIn(user: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${user} console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`${user} pageerror: ${err.message}`));
  await page.goto(chat.url);
  await page.locator('#login-user').selectOption(user);
  await page.locator('#login-form button[type="submit"]').click();
  await page.locator('#user-name', { hasText: user }).waitFor();
  await page.locator('#status[data-state="open"]').waitFor({ timeout: 15_000 });
  return { context, page };
}

async function send(page: Page, text: string): Promise<void> {
  await page.locator('#message-text').fill(text);
  await page.locator('#message-form button[type="submit"]').click();
  // The page clears the field once the server has accepted (published) the message.
  await page.waitForFunction(
    () => (globalThis as unknown as PageGlobals).document.getElementById('message-text')?.value === '',
  );
}

/** The messages on the page as "<from>: <text>", top to bottom. */
function shown(page: Page): Promise<string[]> {
  return page
    .locator('#messages li')
    .evaluateAll((items) =>
      items.map(
        (li) => `${li.querySelector('.from')?.textContent}: ${li.querySelector('.text')?.textContent}`,
      ),
    );
}

async function waitForCount(page: Page, count: number): Promise<void> {
  await page.waitForFunction(
    (n) => (globalThis as unknown as PageGlobals).document.querySelectorAll('#messages li').length >= n,
    count,
    {
      timeout: 10_000,
    },
  );
}

describe('chat example', () => {
  test('members see each other in order; a non-member gets stream-error forbidden', async () => {
    const alice = await logIn('alice');
    const bob = await logIn('bob');

    const tag = Date.now();
    await send(alice.page, `hello bob ${tag}`);
    await send(bob.page, `hi alice ${tag}`);
    await send(alice.page, `second from alice ${tag}`);
    const expected = [`alice: hello bob ${tag}`, `bob: hi alice ${tag}`, `alice: second from alice ${tag}`];
    for (const { page } of [alice, bob]) {
      await waitForCount(page, 3);
      expect(await shown(page)).toEqual(expected);
    }
    await saveScreenshot(alice.page, 'example-chat');

    // bob is not in #ops: the stream is refused and the page says so; the client stops.
    await bob.page.locator('#rooms button[data-room="ops"]').click();
    const error = bob.page.locator('#room-error[data-condition="forbidden"]');
    await error.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await error.textContent()).toContain('not a member of ops');
    await bob.page.locator('#status[data-state="error"]').waitFor();
    await saveScreenshot(bob.page, 'example-chat-forbidden');

    // alice is: she posts there, and bob's attempt to post is refused by the same rule.
    await alice.page.locator('#rooms button[data-room="ops"]').click();
    await alice.page.locator('#status[data-state="open"]').waitFor({ timeout: 10_000 });
    await send(alice.page, `ops only ${tag}`);
    await waitForCount(alice.page, 1);
    expect(await shown(alice.page)).toEqual([`alice: ops only ${tag}`]);
    expect(await shown(bob.page)).toEqual([]);
    const posted = await bob.page.request.post(new URL('rooms/ops/messages', chat.url).href, {
      data: { text: 'let me in' },
    });
    expect(posted.status()).toBe(403);

    // Without a session, or with a forged one, the stream is refused too.
    const anonymous = await fetch(new URL('rooms/general/events', chat.url));
    expect(anonymous.status).toBe(403);
    const forged = await fetch(new URL('rooms/general/events', chat.url), {
      headers: { cookie: 'chat_session=bob.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    });
    expect(forged.status).toBe(403);

    await Promise.all([alice.context.close(), bob.context.close()]);
    expect(problems).toEqual([]);
  });

  test('presence: each page lists who is in the room, across tabs; a user leaves with their last tab', async () => {
    const online = (page: Page) => page.locator('#online li').allTextContents();
    const alice = await logIn('alice');
    await alice.page.waitForFunction(
      () => (globalThis as unknown as PageGlobals).document.querySelectorAll('#online li').length === 1,
    );
    expect(await online(alice.page)).toEqual(['alice']);
    const bob = await logIn('bob');
    const bobTab2 = await bob.context.newPage();
    await bobTab2.goto(chat.url);
    await bobTab2.locator('#status[data-state="open"]').waitFor({ timeout: 15_000 });
    for (const page of [alice.page, bob.page, bobTab2])
      await expect.poll(() => online(page), { timeout: 15_000 }).toEqual(['alice', 'bob']);
    // bob closes one tab: still online; then the other: gone from alice's list.
    await bobTab2.close();
    expect((await fetch(new URL('rooms/general/presence', chat.url))).status).toBe(403);
    const streams = async () =>
      (
        (await (await alice.page.request.get(new URL('rooms/general/presence', chat.url).href)).json()) as {
          connections: number;
        }
      ).connections;
    await expect.poll(streams, { timeout: 15_000 }).toBe(2);
    expect(await online(alice.page)).toEqual(['alice', 'bob']);
    await bob.context.close();
    await expect.poll(() => online(alice.page), { timeout: 15_000 }).toEqual(['alice']);
    await alice.context.close();
    expect(problems).toEqual([]);
  });
});
