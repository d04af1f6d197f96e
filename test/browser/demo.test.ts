// End-to-end: the basic demo (examples/basic/server.mjs, run as `npm start` runs it) in real
// headless Chromium. Every wait is on a condition with a bound; no fixed sleeps except where a
// test must prove that something does NOT happen for a while.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type BrowserSession, launchBrowser, saveScreenshot } from '../helpers/browser.js';
import { freePorts, type PushpinInstance, startPushpin } from '../helpers/pushpin.js';
import { type DemoProcess, startDemo } from './demo-process.js';

/** Chromium's reconnection delay when the server sends no `retry:` field. */
const BROWSER_DEFAULT_RETRY_MS = 3_000;
const DOCS_SCREENSHOT = fileURLToPath(new URL('../../docs/demo.png', import.meta.url));

let browser: BrowserSession;
let demo: DemoProcess;

beforeAll(async () => {
  // A port below the ephemeral range, so nothing else is handed it while the demo restarts on it.
  const [port] = await freePorts(1);
  [browser, demo] = await Promise.all([launchBrowser(), startDemo({ port })]);
});

afterAll(async () => {
  await Promise.allSettled([browser?.close(), demo?.stop()]);
});

/** Opens the demo page; `prepare` runs before navigation (e.g. to attach request listeners). */
async function openDemo(query = '', prepare?: (page: Page) => void): Promise<Page> {
  const page = await browser.newPage();
  prepare?.(page);
  await page.goto(new URL(query, demo.url).href);
  return page;
}

/** Starts the demo again on `port`, retrying for a few seconds while the port is still taken. */
async function restartOn(port: number): Promise<DemoProcess> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      return await startDemo({ port });
    } catch (err) {
      if (Date.now() > deadline || !String(err).includes('EADDRINUSE')) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function waitForStatus(page: Page, state: string, timeout = 10_000): Promise<void> {
  await page.locator(`#status[data-state="${state}"]`).waitFor({ timeout });
}

async function sendMessage(page: Page, text: string): Promise<void> {
  await page.locator('#message-text').fill(text);
  await page.locator('#message-form button[type="submit"]').click();
  await page.locator('#message-result[data-state="sent"]').waitFor({ timeout: 10_000 });
}

/** The event-log texts of `message` events. */
function messageTexts(page: Page): Promise<string[]> {
  return page.locator('#event-log li[data-type="message"] .data').allTextContents();
}

describe('basic demo in headless Chromium', () => {
  test('the page opens, the status turns open, and a time event arrives every second', async () => {
    const page = await openDemo();
    await waitForStatus(page, 'open');
    expect(await page.locator('#events-url').textContent()).toBe('events/?channel=clock&channel=messages');
    expect(await page.locator('#event-log li[data-type="stream-open"]').count()).toBe(1);

    await expect
      .poll(() => page.locator('#event-log li[data-type="time"]').count(), { timeout: 15_000 })
      .toBeGreaterThanOrEqual(3);
    // One tick per whole second: each carries the server's clock, in a later second than the one
    // before. The server's stamps, not arrival times in the browser: a busy machine delivers
    // ticks late and in bursts, but never stamps two in one second.
    // The page shows them as local HH:MM:SS; the full ISO stamp is the <time>'s datetime.
    const values = await page
      .locator('#event-log li[data-type="time"] .data time')
      .evaluateAll((els) => els.map((el) => el.getAttribute('datetime') ?? ''));
    const shown = await page.locator('#event-log li[data-type="time"] .data').allTextContents();
    expect(values).toHaveLength(shown.length);
    for (const text of shown) expect(text).toMatch(/^\d\d:\d\d:\d\d$/);
    for (const value of values) expect(new Date(value).toISOString()).toBe(value);
    const seconds = values.map((v) => Math.floor(Date.parse(v) / 1000)).reverse();
    for (let i = 1; i < seconds.length; i++) expect(seconds[i]).toBeGreaterThan(seconds[i - 1]!);

    expect(await page.locator('#connection-log li[data-kind="open"]').count()).toBe(1);
    await saveScreenshot(page, 'demo-clock');
    await page.close();
    expect(browser.problems).toEqual([]);
  });

  test('a message sent from the form appears in every open tab', async () => {
    const [first, second] = await Promise.all([openDemo(), openDemo()]);
    await Promise.all([waitForStatus(first, 'open'), waitForStatus(second, 'open')]);

    const text = `hello from tab one ${Date.now()}`;
    await sendMessage(first, text);
    await Promise.all(
      [first, second].map((page) =>
        expect.poll(() => messageTexts(page), { timeout: 10_000 }).toContain(text),
      ),
    );
    expect(await first.locator('#message-text').inputValue()).toBe('');

    // Bad input gets a clear reason and publishes nothing.
    const tooLong = await first.request.post(new URL('messages/', demo.url).href, {
      data: 'x'.repeat(501),
      headers: { 'Content-Type': 'text/plain' },
    });
    expect(tooLong.status()).toBe(400);
    expect(await tooLong.text()).toMatch(/at most 500 characters/);
    const empty = await first.request.post(new URL('messages/', demo.url).href, { data: { text: '  ' } });
    expect(empty.status()).toBe(400);
    expect(await empty.text()).toMatch(/must not be empty/);

    // Wait for a time event after the message so the screenshot shows both kinds of event.
    const times = await first.locator('#event-log li[data-type="time"]').count();
    await expect
      .poll(() => first.locator('#event-log li[data-type="time"]').count(), { timeout: 10_000 })
      .toBeGreaterThan(times);
    const shot = await saveScreenshot(first, 'demo');
    if (process.env.UPDATE_DEMO_SCREENSHOT === '1') {
      await mkdir(dirname(DOCS_SCREENSHOT), { recursive: true });
      await copyFile(shot, DOCS_SCREENSHOT);
    }
    expect(await messageTexts(first)).toEqual([text]);
    await Promise.all([first.close(), second.close()]);
    expect(browser.problems).toEqual([]);
  });

  test('a message with HTML in it is shown as text and never runs', async () => {
    const page = await openDemo('?channel=messages');
    await waitForStatus(page, 'open');
    const requested: string[] = [];
    page.on('request', (req) => requested.push(req.url()));
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });

    const payload = `<img src=x onerror="window.__xss = 1; alert('xss')"><script>window.__xss = 2</script><b>bold</b>`;
    await sendMessage(page, payload);
    await expect.poll(() => messageTexts(page), { timeout: 10_000 }).toContain(payload);

    const entry = page.locator('#event-log li[data-type="message"]').first();
    expect(await entry.locator('img, script, b').count()).toBe(0);
    expect(await page.locator('#event-log img, #connection-log img').count()).toBe(0);
    expect(await page.evaluate('typeof window.__xss')).toBe('undefined');
    expect(dialogs).toEqual([]);
    expect(requested.filter((url) => new URL(url).pathname.endsWith('/x'))).toEqual([]);
    await page.close();
  });

  test('Disconnect, then Connect resumes: a message sent meanwhile is replayed', async () => {
    const page = await openDemo('?channel=messages');
    await waitForStatus(page, 'open');
    const position = await page.locator('#last-event-id').textContent();
    expect(position).toMatch(/^\S+-\d+$/); // stream-open carries the current position

    await page.locator('#toggle-connection').click();
    await waitForStatus(page, 'closed');
    const text = `sent while you were away ${Date.now()}`;
    const res = await page.request.post(new URL('messages/', demo.url).href, { data: { text } });
    expect(res.status()).toBe(201);
    expect(await messageTexts(page)).not.toContain(text);

    await page.locator('#toggle-connection').click();
    await waitForStatus(page, 'open');
    await expect.poll(() => messageTexts(page), { timeout: 10_000 }).toContain(text);
    expect(await page.locator('#events-url').textContent()).toBe(
      `events/?channel=messages&lastEventId=${encodeURIComponent(position!)}`,
    );
    expect(await page.locator('#connection-log li[data-kind="connecting"]').first().textContent()).toContain(
      `resuming after id ${position}`,
    );
    // The replayed message carries its own id, later than the position we resumed from.
    const id = await page.locator('#event-log li[data-type="message"] .id').first().textContent();
    expect(id).toMatch(/^#\S+-\d+$/);
    expect(id).not.toBe(`#${position}`);
    // stream-open announced one replayed event: that message is marked, a live one after it is not.
    const replayed = page.locator('#event-log li[data-type="message"][data-replayed="true"]');
    await expect.poll(() => replayed.count()).toBe(1);
    expect(await replayed.textContent()).toContain(text);
    expect(await replayed.locator('.badge').textContent()).toBe('replayed');
    const live = `sent while connected ${Date.now()}`;
    expect(
      (await page.request.post(new URL('messages/', demo.url).href, { data: { text: live } })).status(),
    ).toBe(201);
    await expect.poll(() => messageTexts(page), { timeout: 10_000 }).toContain(live);
    expect(await replayed.count()).toBe(1);
    await page.close();
  });

  test('a bad channel shows the stream-error text and the browser stops reconnecting', async () => {
    // The UI: a `,` is not allowed in a channel name.
    const uiRequests: string[] = [];
    const rawRequests: string[] = [];
    const page = await openDemo('?channel=a%2Cb', (p) =>
      p.on('request', (req: Request) => {
        const url = new URL(req.url());
        if (url.pathname !== '/events/') return;
        (url.searchParams.get('channel') === 'a,b' ? uiRequests : rawRequests).push(req.url());
      }),
    );
    const streamError = page.locator('#stream-error');
    await streamError.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await streamError.textContent()).toMatch(/^bad-request: .*channel/i);
    await waitForStatus(page, 'closed');
    expect(await page.locator('#event-log li[data-type="stream-error"]').count()).toBe(1);
    expect(await page.locator('#last-event-id').textContent()).toBe('(none)');

    // Too many channels (the library's default limit is 20 per request).
    const many = Array.from({ length: 21 }, (_, i) => `channel=c${i}`).join('&');
    const crowded = await openDemo(`?${many}`);
    await crowded.locator('#stream-error').waitFor({ state: 'visible', timeout: 10_000 });
    expect(await crowded.locator('#stream-error').textContent()).toMatch(
      /^bad-request: .*too many channels/i,
    );
    await waitForStatus(crowded, 'closed');
    await crowded.close();

    // A plain EventSource that does NOT close itself on stream-error (a control character in
    // the channel name): the server ends the stream, the browser's one reconnect carries
    // Last-Event-ID: error and is refused, and the browser gives up for good.
    await page.evaluate(`(() => {
      const es = new EventSource('events/?channel=x%01y');
      window.__raw = { es, events: [], errors: 0 };
      es.addEventListener('stream-error', (e) => window.__raw.events.push(e.data));
      es.addEventListener('error', () => { window.__raw.errors += 1; });
    })()`);
    await expect
      .poll(() => page.evaluate('window.__raw.es.readyState'), { timeout: BROWSER_DEFAULT_RETRY_MS * 3 })
      .toBe(2); // EventSource.CLOSED
    const rawEvents = (await page.evaluate('window.__raw.events')) as string[];
    expect(rawEvents).toHaveLength(1);
    expect(JSON.parse(rawEvents[0]!)).toMatchObject({ condition: 'bad-request' });
    expect(rawRequests).toHaveLength(2);

    // Nothing more for well over a retry period.
    const serverSide = (channel: string): number =>
      demo.requests().filter((target) => {
        const url = new URL(target, demo.url);
        return url.pathname === '/events/' && url.searchParams.get('channel') === channel;
      }).length;
    expect(serverSide('x\u0001y')).toBe(2);
    await page.waitForTimeout(BROWSER_DEFAULT_RETRY_MS + 1_000);
    expect(uiRequests).toHaveLength(1);
    expect(rawRequests).toHaveLength(2);
    expect(serverSide('a,b')).toBe(1);
    expect(serverSide('x\u0001y')).toBe(2);
    expect(await streamError.isVisible()).toBe(true);
    await saveScreenshot(page, 'demo-stream-error');
    await page.close();
  });

  test('the server restarts: the page shows reconnecting, then open again', async () => {
    const page = await openDemo('?channel=clock');
    await waitForStatus(page, 'open');
    await expect
      .poll(() => page.locator('#event-log li[data-type="time"]').count(), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(1);

    const { port } = demo;
    await demo.stop('SIGKILL');
    await waitForStatus(page, 'reconnecting', 10_000);
    // Read once the stream is gone: before the kill, another tick could still arrive.
    const lastSeen = await page.locator('#last-event-id').textContent();
    demo = await restartOn(port);
    await waitForStatus(page, 'open', BROWSER_DEFAULT_RETRY_MS * 3);
    const reconnected = page.locator('#connection-log li[data-kind="reconnected"]');
    expect(await reconnected.count()).toBe(1);
    expect(await reconnected.textContent()).toContain(`resumed from id ${lastSeen}`);
    // The new process has a new (in-memory) history: the old id is unknown, and the page says so.
    const reset = page.locator('#event-log li[data-type="stream-reset"] .data');
    await reset.waitFor({ timeout: 10_000 });
    expect(await reset.textContent()).toMatch(/^unknown-id: .*clock/);

    const before = await page.locator('#event-log li[data-type="time"]').count();
    await expect
      .poll(() => page.locator('#event-log li[data-type="time"]').count(), { timeout: 10_000 })
      .toBeGreaterThan(before);
    await saveScreenshot(page, 'demo-reconnected');
    await page.close();
  });

  test('SIGTERM with a page connected: the server ends the stream and exits 0 at once', async () => {
    const other = await startDemo();
    try {
      const page = await browser.newPage();
      await page.goto(new URL('?channel=clock', other.url).href);
      await waitForStatus(page, 'open');
      // Exit code 0 is the proof it closed at once: a stream holding the server open would
      // trip the demo's 5 s guard, which exits 1 ("did not close within 5 s").
      expect(await other.stop('SIGTERM', 15_000)).toBe(0);
      expect(other.output()).toContain('SIGTERM: closing');
      expect(other.output()).not.toContain('did not close');
      await waitForStatus(page, 'reconnecting', 5_000);
      await page.close();
    } finally {
      await other.stop('SIGKILL');
    }
  });

  test('through Pushpin: the page loads through the proxy and the events reach it', async () => {
    // The demo publishes to Pushpin's publish port, so choose Pushpin's ports before starting it.
    const [httpPort, publishPort] = await freePorts(2);
    const gripUrl = `http://127.0.0.1:${publishPort}?key=changeme`;
    const origin = await startDemo({ env: { GRIP_URL: gripUrl } });
    let pushpin: PushpinInstance | undefined;
    try {
      pushpin = await startPushpin({
        originPort: origin.port,
        httpPort,
        publishPort,
        readyPath: '/events/?channel=clock',
      });
      expect(pushpin.gripUrl).toBe(gripUrl);

      const page = await browser.newPage();
      await page.goto(`${pushpin.baseUrl}/`);
      await waitForStatus(page, 'open');
      // Pushpin holds the stream: it subscribed the page to the prefixed channels.
      await pushpin.waitForSubscription('events-clock', 1, 5_000);
      await pushpin.waitForSubscription('events-messages', 1, 5_000);
      await expect
        .poll(() => page.locator('#event-log li[data-type="time"]').count(), { timeout: 6_000 })
        .toBeGreaterThanOrEqual(2);

      const text = `through the proxy ${Date.now()}`;
      await sendMessage(page, text);
      await expect.poll(() => messageTexts(page), { timeout: 10_000 }).toContain(text);
      expect(origin.requests('POST')).toContain('/messages/');
      await saveScreenshot(page, 'demo-pushpin');
      await page.close();
    } finally {
      await Promise.allSettled([pushpin?.stop(), origin.stop()]);
    }
  }, 90_000);
});
