// After `vitepress build`: VitePress fails on links to missing pages but not on links to missing
// headings (`./scaling#no-such-section`), nor on links written as the site's own absolute URL
// (how the pages link the generated API reference, so that the link also works on GitHub). This
// checks every internal link with a fragment, and every link to the site's URL, in the built site
// against the pages and the ids of the page it points to.
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';

const dist = new URL('../docs/.vitepress/dist/', import.meta.url).pathname;
/** The site's `base` (docs/.vitepress/config.mts) and its published address. */
const BASE = '/express-eventstream/';
const SITE = `https://fanout.github.io${BASE}`;

function htmlFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? htmlFiles(join(dir, e.name)) : e.name.endsWith('.html') ? [join(dir, e.name)] : [],
  );
}

/** Site path of a built file: `api/index.html` → `/api/`, `scaling.html` → `/scaling`. */
function sitePath(file) {
  const rel = relative(dist, file).split('\\').join('/');
  if (rel === 'index.html') return '/';
  if (rel.endsWith('/index.html')) return `/${rel.slice(0, -'index.html'.length)}`;
  return `/${rel.slice(0, -'.html'.length)}`;
}

const ids = new Map();
const pages = htmlFiles(dist);
for (const file of pages) {
  const html = readFileSync(file, 'utf8');
  ids.set(sitePath(file), new Set([...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1])));
}

const problems = [];
for (const file of pages) {
  const from = sitePath(file);
  const html = readFileSync(file, 'utf8');
  for (const [, raw] of html.matchAll(/\shref="([^"]*)"/g)) {
    const site = raw.startsWith(SITE);
    if (!site && !raw.includes('#')) continue;
    let href = site ? `/${raw.slice(SITE.length)}` : raw;
    if (!site && (/^[a-z]+:/i.test(href) || href.startsWith('//'))) continue;
    if (!site && href.startsWith(BASE)) href = `/${href.slice(BASE.length)}`;
    const [path = '', fragment = ''] = href.split('#');
    if (!site && (fragment === '' || fragment === 'VPContent')) continue;
    let target = path === '' ? from : posix.resolve(from.endsWith('/') ? from : posix.dirname(from), path);
    if (path.endsWith('/') && !target.endsWith('/')) target += '/';
    target = target.replace(/\.html$/, '');
    const known = ids.get(target);
    if (known === undefined) problems.push(`${from}: link to unknown page ${raw}`);
    else if (fragment !== '' && !known.has(decodeURIComponent(fragment)))
      problems.push(`${from}: no heading #${fragment} on ${target}`);
  }
}
if (problems.length > 0) {
  console.error(`Dead anchors in the docs site:\n${problems.join('\n')}`);
  process.exit(1);
}
console.log(`docs: ${pages.length} pages, every internal anchor resolves`);
