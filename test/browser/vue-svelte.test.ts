// `express-eventstream/vue` and `express-eventstream/svelte` (the BUILT dist/vue.js and
// dist/svelte.js over dist/client/index.js): a real Vue app (its runtime build) and a real Svelte
// component (compiled here by svelte/compiler) in headless Chromium, and server rendering of
// both in Node, where there is no window.
import { mkdir, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { compile } from 'svelte/compiler';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Events } from '../../src/index.js';
import { ARTIFACTS_DIR, type BrowserSession, launchBrowser } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/sse-client.js';

type Lib = typeof import('../../src/index.js');

const root = fileURLToPath(new URL('../../', import.meta.url));
const dist = (file: string) => fileURLToPath(new URL(`../../dist/${file}`, import.meta.url));

const VUE_APP = `
import { createApp, defineComponent, h, ref } from 'vue';
import { useEventStream } from 'express-eventstream/vue';
const url = ref('/events/?channel=a');
const items = ref([]);
const App = defineComponent({
  setup() {
    const { state } = useEventStream(url, { persist: false, on: { n: (data) => items.value.push(data) } });
    return () => h('div', [
      h('p', { id: 'state' }, state.value),
      h('ul', { id: 'items' }, items.value.map((i) => h('li', { key: i }, String(i)))),
    ]);
  },
});
const app = createApp(App);
app.mount('#root');
window.__switch = () => { url.value = '/events/?channel=b'; };
window.__unmount = () => app.unmount();
`;

const SVELTE_COMPONENT = `
<script>
  import { eventStream } from 'express-eventstream/svelte';
  let items = $state([]);
  const stream = eventStream('/events/', { channels: ['a'], persist: false, on: { n: (data) => items.push(data) } });
</script>
<p id="state">{$stream.state}</p>
<ul id="items">{#each items as item (item)}<li>{item}</li>{/each}</ul>
`;

const SVELTE_APP = `
import { mount, unmount } from 'svelte';
import App from './App.svelte';
const app = mount(App, { target: document.getElementById('root') });
window.__unmount = () => unmount(app);
`;

/** Compiles `.svelte` imports with the real compiler. */
const sveltePlugin: Plugin = {
  name: 'svelte',
  setup(b) {
    b.onResolve({ filter: /\.svelte$/ }, (args) => ({ path: args.path, namespace: 'svelte' }));
    b.onLoad({ filter: /.*/, namespace: 'svelte' }, () => ({
      contents: compile(SVELTE_COMPONENT, { filename: 'App.svelte', generate: 'client' }).js.code,
      resolveDir: root,
      loader: 'js',
    }));
  },
};

async function bundle(contents: string): Promise<string> {
  const out = await build({
    stdin: { contents, resolveDir: root, loader: 'js' },
    bundle: true,
    write: false,
    format: 'esm',
    conditions: ['browser'],
    plugins: [sveltePlugin],
    alias: {
      'express-eventstream/vue': dist('vue.js'),
      'express-eventstream/svelte': dist('svelte.js'),
      'express-eventstream/client': dist('client/index.js'),
    },
    define: {
      'process.env.NODE_ENV': '"development"',
      __VUE_OPTIONS_API__: 'true',
      __VUE_PROD_DEVTOOLS__: 'false',
      __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    },
  });
  return out.outputFiles[0]!.text;
}

let browser: BrowserSession;
let lib: Lib;
let ev: Events;
let server: TestServer;
let requests = 0;
const pages = new Map<string, string>();

beforeAll(async () => {
  const specifier = 'express-eventstream';
  lib = (await import(specifier)) as Lib;
  pages.set('/vue.js', await bundle(VUE_APP));
  pages.set('/svelte.js', await bundle(SVELTE_APP));
  ev = lib.events({ keepAlive: false });
  const handler = lib.createHandler({ events: ev });
  server = await startServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/events/') {
      requests++;
      return handler(req, res);
    }
    const script = pages.get(url.pathname);
    if (script !== undefined) return res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    const page = `<!doctype html><div id="root"></div><script type="module" src="/${url.searchParams.get('app')}.js"></script>`;
    res.writeHead(url.pathname === '/favicon.ico' ? 204 : 200, { 'content-type': 'text/html' }).end(page);
  });
  browser = await launchBrowser();
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await ev?.close();
  await server?.close();
});

describe('useEventStream (Vue)', () => {
  test('in a Vue app: events render once, a new URL reconnects, unmounting closes the stream', async () => {
    const page = await browser.newPage();
    const before = browser.problems.length;
    await page.goto(server.url('/?app=vue'));
    await until(async () => (await page.textContent('#state')) === 'open', 30_000, 'open');
    await until(() => ev.stats().connections === 1, 30_000, 'one stream');
    await ev.publish('a', { event: 'n', data: 1 });
    await ev.publish('a', { event: 'n', data: 2 });
    await until(async () => (await page.$$('#items li')).length === 2, 30_000, 'two items');
    // The ref changes: the old stream closes, one on channel b opens.
    await page.evaluate('window.__switch()');
    await until(
      () => {
        const { connections, subscribers } = ev.stats();
        return connections === 1 && subscribers.b === 1 && !subscribers.a;
      },
      30_000,
      'the stream on b',
    );
    await until(async () => (await page.textContent('#state')) === 'open', 30_000, 'open again');
    await ev.publish('a', { event: 'n', data: 3 });
    await ev.publish('b', { event: 'n', data: 4 });
    await until(async () => (await page.$$('#items li')).length === 3, 30_000, 'three items');
    expect(await page.$$eval('#items li', (lis) => lis.map((li) => li.textContent))).toEqual(['1', '2', '4']);
    await page.evaluate('window.__unmount()');
    await until(() => ev.stats().connections === 0, 30_000, 'the stream to close');
    expect(browser.problems.slice(before)).toEqual([]);
    await page.close();
  });

  test('server rendering: renders connecting without window, and connects nothing', async () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
    const [entry, vue, renderer] = ['express-eventstream/vue', 'vue', 'vue/server-renderer'];
    const { useEventStream } = (await import(entry)) as {
      useEventStream(url: string, options: object): { state: { value: string } };
    };
    const { createSSRApp, h } = (await import(vue)) as {
      createSSRApp(component: object): unknown;
      h(type: string, children: string): unknown;
    };
    const { renderToString } = (await import(renderer)) as { renderToString(app: unknown): Promise<string> };
    const before = requests;
    const app = createSSRApp({
      setup() {
        // biome-ignore lint/correctness/useHookAtTopLevel: a Vue composable in setup(), not a React hook.
        const { state } = useEventStream(server.url('/events/'), { channels: ['a'] });
        return () => h('p', state.value);
      },
    });
    expect(await renderToString(app)).toBe('<p>connecting</p>');
    expect(requests).toBe(before);
  });
});

describe('eventStream (Svelte)', () => {
  test('in a compiled Svelte component: events render once, unmounting closes the stream', async () => {
    const page = await browser.newPage();
    const before = browser.problems.length;
    await page.goto(server.url('/?app=svelte'));
    await until(async () => (await page.textContent('#state')) === 'open', 30_000, 'open');
    await until(() => ev.stats().connections === 1, 30_000, 'one stream');
    await ev.publish('a', { event: 'n', data: 1 });
    await ev.publish('a', { event: 'n', data: 2 });
    await until(async () => (await page.$$('#items li')).length === 2, 30_000, 'two items');
    expect(await page.$$eval('#items li', (lis) => lis.map((li) => li.textContent))).toEqual(['1', '2']);
    await page.evaluate('window.__unmount()');
    await until(() => ev.stats().connections === 0, 30_000, 'the stream to close');
    expect(browser.problems.slice(before)).toEqual([]);
    await page.close();
  });

  test('server rendering: renders connecting without window, and connects nothing', async () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
    const dir = `${ARTIFACTS_DIR}svelte-ssr/`;
    await mkdir(dir, { recursive: true });
    const file = `${dir}App.server.js`;
    await writeFile(file, compile(SVELTE_COMPONENT, { filename: 'App.svelte', generate: 'server' }).js.code);
    const before = requests;
    const { default: App } = (await import(pathToFileURL(file).href)) as { default: unknown };
    const { render } = (await import('svelte/server')) as { render(c: unknown): { body: string } };
    expect(render(App).body).toContain('<p id="state">connecting</p>');
    expect(requests).toBe(before);
  });
});
