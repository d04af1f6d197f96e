// Real headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by
// playwright-core. No tool ever downloads a browser: playwright-core has no download step, and
// a missing Chromium is apt-installed by ensureSystemDependencies() (or the test fails naming it).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

/** Where tests leave screenshots and logs (git-ignored). */
export const ARTIFACTS_DIR = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

interface SystemDependency {
  command: string;
  pkg: string;
  recommends?: boolean;
}

interface SystemDepsModule {
  dependenciesFor(...commands: string[]): SystemDependency[];
  ensureSystemDependencies(deps?: readonly SystemDependency[]): void;
}

/** Installs Chromium with apt-get when it is missing (never skips; throws naming the package). */
export async function ensureChromium(): Promise<void> {
  // A computed specifier: scripts/system-deps.mjs is plain JavaScript without type declarations.
  const specifier = new URL('../../scripts/system-deps.mjs', import.meta.url).href;
  const systemDeps = (await import(specifier)) as SystemDepsModule;
  systemDeps.ensureSystemDependencies(systemDeps.dependenciesFor(CHROMIUM_PATH));
}

export interface BrowserSession {
  /** One browser with a fresh profile; its pages share cookies but nothing survives the session. */
  readonly context: BrowserContext;
  /** A new tab that records its console errors and uncaught exceptions in `problems`. */
  newPage(): Promise<Page>;
  /** Console errors and page errors seen so far, as text (for assertions and failure messages). */
  readonly problems: string[];
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh user-data-dir under the OS temp directory. */
export async function launchBrowser(): Promise<BrowserSession> {
  await ensureChromium();
  const userDataDir = await mkdtemp(join(tmpdir(), 'ees-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS],
      viewport: { width: 1200, height: 800 },
      timeout: 30_000,
    });
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true });
    throw err;
  }
  const problems: string[] = [];
  const watch = (page: Page): void => {
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  };
  // A persistent context opens with one blank tab; close it so every page is one we asked for.
  for (const page of context.pages()) await page.close();
  return {
    context,
    problems,
    async newPage() {
      const page = await context.newPage();
      watch(page);
      return page;
    },
    async close() {
      try {
        await context.close();
      } finally {
        await rm(userDataDir, { recursive: true, force: true });
      }
    },
  };
}

/** Saves a full-page screenshot as test-artifacts/<name>.png and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
