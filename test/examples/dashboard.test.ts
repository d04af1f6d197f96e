// examples/dashboard in real Chromium: the connection count on the page follows a second page
// connecting and disconnecting, and the rates come from the server's live counters.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type BrowserSession, launchBrowser, saveScreenshot } from '../helpers/browser.js';
import { type ExampleProcess, startExample } from './example-process.js';
import type { PageGlobals } from './page-dom.js';

let server: ExampleProcess;
let browser: BrowserSession;

beforeAll(async () => {
  [server, browser] = await Promise.all([
    startExample('dashboard', { METRICS_INTERVAL_MS: '200' }),
    launchBrowser(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('dashboard example', () => {
  test('the connection count updates when a second page connects and disconnects', async () => {
    const first = await browser.newPage();
    await first.goto(server.url);
    const connections = (n: number) => first.locator(`#connections[data-value="${n}"]`);
    await connections(1).waitFor({ timeout: 15_000 });

    const second = await browser.newPage();
    await second.goto(server.url);
    await connections(2).waitFor({ timeout: 15_000 });
    await second.locator('#connections[data-value="2"]').waitFor({ timeout: 15_000 });

    await second.close();
    await connections(1).waitFor({ timeout: 15_000 });

    // The simulated traffic (20 events/s) shows as a published rate above zero.
    await first.waitForFunction(
      () => {
        const rate = (globalThis as unknown as PageGlobals).document.getElementById('published-rate');
        return Number(rate?.textContent) > 0;
      },
      null,
      { timeout: 15_000 },
    );
    expect(await first.locator('#subscribers').textContent()).toContain('metrics');

    // The same server exposes Prometheus metrics through express-eventstream/metrics.
    const scrape = await fetch(new URL('metrics', server.url));
    expect(scrape.status).toBe(200);
    expect(await scrape.text()).toMatch(/^express_eventstream_\w+/m);
    await saveScreenshot(first, 'example-dashboard');
    await first.close();
    expect(browser.problems).toEqual([]);
  });
});
