// `express-eventstream/react` (the BUILT dist/react.js over dist/client/index.js): a real React
// page in headless Chromium under StrictMode (development build, so effects mount twice), and
// server rendering in Node where there is no window.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Events } from '../../src/index.js';
import { type BrowserSession, launchBrowser } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/sse-client.js';

type Lib = typeof import('../../src/index.js');
// Untyped on purpose: React's types declare DOM stubs that would change the other tests' types.
type ReactEntry = { useEventStream(url: string, options: object): { state: string } };
type CreateElement = (type: unknown, props: unknown, ...children: unknown[]) => unknown;

const dist = (file: string) => fileURLToPath(new URL(`../../dist/${file}`, import.meta.url));

const APP = `
import { StrictMode, createElement as h, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useEventStream } from 'express-eventstream/react';
function App() {
  const [items, setItems] = useState([]);
  const { state } = useEventStream('/events/', {
    channels: ['a'],
    persist: false,
    on: { n: (data) => setItems((list) => [...list, data]) },
  });
  return h('div', null, h('p', { id: 'state' }, state), h('ul', { id: 'items' }, items.map((i) => h('li', { key: i }, String(i)))));
}
const root = createRoot(document.getElementById('root'));
root.render(h(StrictMode, null, h(App)));
window.__unmount = () => root.unmount();
`;

let browser: BrowserSession;
let lib: Lib;
let ev: Events;
let server: TestServer;
let requests = 0;

beforeAll(async () => {
  const specifier = 'express-eventstream';
  lib = (await import(specifier)) as Lib;
  const bundle = await build({
    stdin: { contents: APP, resolveDir: fileURLToPath(new URL('../../', import.meta.url)), loader: 'js' },
    bundle: true,
    write: false,
    format: 'esm',
    alias: {
      'express-eventstream/react': dist('react.js'),
      'express-eventstream/client': dist('client/index.js'),
    },
    define: { 'process.env.NODE_ENV': '"development"' },
  });
  const page = bundle.outputFiles[0]!.text;
  ev = lib.events({ keepAlive: false });
  const handler = lib.createHandler({ events: ev });
  server = await startServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/events/') {
      requests++;
      return handler(req, res);
    }
    const [type, body] =
      url.pathname === '/app.js'
        ? ['text/javascript', page]
        : ['text/html', '<!doctype html><div id="root"></div><script type="module" src="/app.js"></script>'];
    res.writeHead(url.pathname === '/favicon.ico' ? 204 : 200, { 'content-type': type }).end(body);
  });
  browser = await launchBrowser();
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await ev?.close();
  await server?.close();
});

describe('useEventStream', () => {
  test('in StrictMode: one stream after the double mount, each event rendered once, closed on unmount', async () => {
    const page: Page = await browser.newPage();
    await page.goto(server.url('/'));
    await until(async () => (await page.textContent('#state')) === 'open', 20_000, 'open');
    // StrictMode mounted, cleaned up and mounted again: one stream left (the first EventSource,
    // closed in the task that opened it, may never have been sent).
    expect(requests).toBeLessThanOrEqual(2);
    await until(() => ev.stats().connections === 1, 20_000, 'one stream');
    await ev.publish('a', { event: 'n', data: 1 });
    await ev.publish('a', { event: 'n', data: 2 });
    await until(async () => (await page.$$('#items li')).length === 2, 20_000, 'two items');
    expect(await page.$$eval('#items li', (lis) => lis.map((li) => li.textContent))).toEqual(['1', '2']);
    await page.evaluate('window.__unmount()');
    await until(() => ev.stats().connections === 0, 20_000, 'the stream to close');
    expect(browser.problems).toEqual([]);
    await page.close();
  });

  test('server rendering: imports and renders without window, and connects nothing', async () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
    const [entry, react, server] = ['express-eventstream/react', 'react', 'react-dom/server'];
    const { useEventStream } = (await import(entry)) as ReactEntry;
    const { createElement } = (await import(react)) as { createElement: CreateElement };
    const { renderToString } = (await import(server)) as { renderToString(element: unknown): string };
    const before = requests;
    const status = (props: { url: string }) =>
      createElement('p', null, useEventStream(props.url, { channels: ['a'] }).state);
    expect(renderToString(createElement(status, { url: 'http://127.0.0.1:1/events/' }))).toBe(
      '<p>connecting</p>',
    );
    expect(requests).toBe(before);
  });
});
