// The docs site's landing page as visitors see it: the VitePress build served under its base
// path, in light and dark mode on desktop and mobile. Screenshots go to
// test-artifacts/docs-landing-<look>.png; each look must fit the viewport and pass axe-core.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserSession, launchBrowser } from '../helpers/browser.js';
import { applyLook, checkLook, LOOKS } from '../helpers/page-checks.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dist = join(root, 'docs/.vitepress/dist');
const BASE = '/express-eventstream/';
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
};

let browser: BrowserSession;
let server: http.Server;
let siteUrl: string;

/** The built site as GitHub Pages serves it: under BASE, `/page` answered by `page.html`. */
function serveSite(): http.Server {
  return http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (!path.startsWith(BASE)) return void res.writeHead(404).end();
    const rel = normalize(path.slice(BASE.length)).replace(/^(\.\.[/\\])+/, '');
    const candidates = [rel, `${rel}.html`, join(rel, 'index.html')].map((p) => join(dist, p));
    const file = candidates.find((p) => p.startsWith(dist) && existsSync(p) && statSync(p).isFile());
    if (file === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
}

/** The newest modification time among the site's pages, config and theme. */
function newestSource(): number {
  const dirs = [join(root, 'docs'), join(root, 'docs/.vitepress'), join(root, 'docs/.vitepress/theme')];
  let newest = 0;
  for (const dir of dirs) {
    for (const name of readdirSync(dir)) {
      if (!/\.(md|mts|ts|css|vue)$/.test(name)) continue;
      newest = Math.max(newest, statSync(join(dir, name)).mtimeMs);
    }
  }
  return newest;
}

beforeAll(async () => {
  if (!existsSync(join(dist, 'index.html')) || statSync(join(dist, 'index.html')).mtimeMs < newestSource()) {
    // `npm run docs` builds it (with the API reference); the landing page needs only VitePress.
    // A build older than a page, the config or the theme would show the page as it was.
    const build = spawnSync(join(root, 'node_modules/.bin/vitepress'), ['build', 'docs'], { cwd: root });
    if (build.status !== 0) throw new Error(`vitepress build failed:\n${build.stderr}`);
  }
  server = serveSite();
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  siteUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}${BASE}`;
  browser = await launchBrowser();
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

describe('the docs landing page', () => {
  for (const look of LOOKS) {
    it(`${look.name}: logo, hero and use cases shown, fits the viewport, no axe violations`, async () => {
      const page = await browser.newPage();
      try {
        await applyLook(page, look);
        const response = await page.goto(siteUrl);
        expect(response?.status()).toBe(200);
        await page.locator('.VPHero .name').waitFor({ timeout: 30_000 });
        const dark = await page.evaluate('document.documentElement.classList.contains("dark")');
        expect(dark).toBe(look.colorScheme === 'dark');
        expect(await page.locator('.VPHero .image-src').getAttribute('src')).toBe(`${BASE}logo.svg`);
        expect(await page.locator('text=What it is for').count()).toBe(1);
        const favicon = await fetch(new URL('favicon.svg', siteUrl));
        expect(favicon.status).toBe(200);
        expect(await checkLook(page, `docs-landing-${look.name}`)).toEqual([]);
      } finally {
        await page.close();
      }
    }, 120_000);
  }
});
