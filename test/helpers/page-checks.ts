// What every showcase page must pass in each look (light/dark × desktop/mobile): nothing wider
// than the viewport, and no accessibility violation axe-core finds (contrast included), with a
// screenshot of each look in test-artifacts/.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { saveScreenshot } from './browser.js';

export interface Look {
  name: string;
  colorScheme: 'light' | 'dark';
  width: number;
  height: number;
}

export const LOOKS: readonly Look[] = [
  { name: 'light-desktop', colorScheme: 'light', width: 1280, height: 800 },
  { name: 'dark-desktop', colorScheme: 'dark', width: 1280, height: 800 },
  { name: 'light-mobile', colorScheme: 'light', width: 390, height: 844 },
  { name: 'dark-mobile', colorScheme: 'dark', width: 390, height: 844 },
];

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Sets the viewport and `prefers-color-scheme` before `open` loads the page. */
export async function applyLook(page: Page, look: Look): Promise<void> {
  await page.setViewportSize({ width: look.width, height: look.height });
  await page.emulateMedia({ colorScheme: look.colorScheme, reducedMotion: 'reduce' });
}

/** Elements wider than the viewport (a horizontal scrollbar), as `tag.class` strings. */
export async function horizontalOverflow(page: Page): Promise<string[]> {
  // A string: this program has no DOM types; the browser evaluates it.
  return page.evaluate(`(() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return [];
    return [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > width + 1)
      .slice(0, 10)
      .map((el) => el.tagName.toLowerCase() + '.' + [...el.classList].join('.'));
  })()`);
}

/** axe-core's WCAG 2 A/AA violations on the page, one line each (rule, impact, first targets). */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  // Evaluated rather than added as a <script>: the demo's Content-Security-Policy refuses inline scripts.
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(`(async () => {
    const result = await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'], resultTypes: ['violations'] });
    return result.violations.map((v) =>
      v.id + ' (' + v.impact + '): ' +
      v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ' ' + (n.failureSummary?.split('\\n')[1]?.trim() ?? '')).join(' | '),
    );
  })()`);
}

/** Screenshot, overflow and axe for one look; returns the problems found (empty when none). */
export async function checkLook(page: Page, screenshotName: string): Promise<string[]> {
  await saveScreenshot(page, screenshotName);
  const overflow = await horizontalOverflow(page);
  const violations = await accessibilityViolations(page);
  return [...(overflow.length > 0 ? [`wider than the viewport: ${overflow.join(', ')}`] : []), ...violations];
}
