// The basic demo (`npm start`) as a visitor sees it, in light and dark mode on desktop and
// mobile: after a simulated network drop (so replayed rows are on screen, the rows that were
// unreadable in dark mode), each look must fit the viewport and pass axe-core. Screenshots:
// test-artifacts/demo-<look>.png. The guide's buttons are checked for what they promise.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserSession, launchBrowser } from '../helpers/browser.js';
import { applyLook, checkLook, LOOKS } from '../helpers/page-checks.js';
import { type DemoProcess, startDemo } from './demo-process.js';

let browser: BrowserSession;
let demo: DemoProcess;

beforeAll(async () => {
  [browser, demo] = await Promise.all([launchBrowser(), startDemo({ timeoutMs: 60_000 })]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([browser?.close(), demo?.stop()]);
});

async function openDemo(): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(demo.url);
  await page.locator('#status[data-state="open"]').waitFor({ timeout: 30_000 });
  return page;
}

describe('the basic demo page', () => {
  it('"Drop the connection" reconnects by itself and replays the ticks it missed, marked replayed', async () => {
    const page = await openDemo();
    try {
      await page.locator('#simulate-drop').click();
      await page.locator('#status[data-state="reconnecting"]').waitFor({ timeout: 10_000 });
      await page.locator('#event-log li.replayed').first().waitFor({ timeout: 30_000 });
      await page.locator('#status[data-state="open"]').waitFor({ timeout: 30_000 });
      expect(await page.locator('#event-log li.replayed .badge').first().textContent()).toBe('replayed');
    } finally {
      await page.close();
    }
  }, 90_000);

  it('"Resume from an id the history does not have" shows the stream-reset', async () => {
    const page = await openDemo();
    try {
      await page.locator('#simulate-reset').click();
      await page.locator('#event-log li.event-stream-reset').first().waitFor({ timeout: 30_000 });
    } finally {
      await page.close();
    }
  }, 90_000);

  for (const look of LOOKS) {
    it(`${look.name}: with replayed rows shown, fits the viewport and has no axe violations`, async () => {
      const page = await browser.newPage();
      try {
        await applyLook(page, look);
        await page.goto(demo.url);
        await page.locator('#status[data-state="open"]').waitFor({ timeout: 30_000 });
        await page.locator('#simulate-drop').click();
        await page.locator('#event-log li.replayed').first().waitFor({ timeout: 30_000 });
        await page.locator('#status[data-state="open"]').waitFor({ timeout: 30_000 });
        expect(await checkLook(page, `demo-${look.name}`)).toEqual([]);
      } finally {
        await page.close();
      }
    }, 120_000);
  }
});
