// The docs site: `npm run docs` generates the API reference (scripts/api-docs.mjs: TypeDoc into
// docs/api/ and docs/api-<entry>/ for each subpath export) and builds this site into
// docs/.vitepress/dist/ for GitHub Pages (.github/workflows/docs.yml), served under `base`. Dead
// internal links fail the build (VitePress's default); only links to a local dev server
// (http://localhost:3000 in the examples) are exempt. Links to the generated pages are written as
// absolute site URLs (they work on GitHub too); scripts/check-docs-anchors.mjs checks them.
import { defineConfig } from 'vitepress';

export default defineConfig({
  title: 'express-eventstream',
  description:
    'Server-Sent Events for Express, Fastify, Koa, node:http and Fetch servers: named channels, lossless resume, a typed client, scaling on Pushpin, Redis or PostgreSQL.',
  base: '/express-eventstream/',
  head: [['link', { rel: 'icon', type: 'image/svg+xml', href: '/express-eventstream/favicon.svg' }]],
  cleanUrls: true,
  lastUpdated: false,
  ignoreDeadLinks: 'localhostLinks',
  // The default light code theme's keyword red is 4.2:1 on the code background (WCAG AA wants 4.5).
  markdown: { theme: { light: 'github-light-high-contrast', dark: 'github-dark' } },
  themeConfig: {
    logo: { src: '/logo.svg', alt: '' },
    search: { provider: 'local' },
    socialLinks: [{ icon: 'github', link: 'https://github.com/fanout/express-eventstream' }],
    outline: 'deep',
    nav: [
      { text: 'Guide', link: '/getting-started' },
      { text: 'API', link: '/reference' },
      { text: 'Demo', link: '/examples#the-basic-demo' },
      { text: 'Migrating from 2.x', link: '/migrating' },
    ],
    sidebar: [
      {
        text: 'Guide',
        items: [
          { text: 'Getting started', link: '/getting-started' },
          { text: 'Frameworks and runtimes', link: '/frameworks' },
          { text: 'Browser client', link: '/client' },
          { text: 'Examples', link: '/examples' },
        ],
      },
      {
        text: 'How it works',
        items: [
          { text: 'Protocol', link: '/protocol' },
          { text: 'History and reconnection', link: '/history' },
          { text: 'Scaling', link: '/scaling' },
          { text: 'PostgreSQL', link: '/postgres' },
          { text: 'Presence, filters, overload', link: '/channels' },
          { text: 'AI streaming', link: '/ai-streaming' },
          { text: 'MCP servers', link: '/mcp' },
        ],
      },
      {
        text: 'Operations',
        items: [
          { text: 'Observability', link: '/observability' },
          { text: 'Security', link: '/security' },
          { text: 'Errors', link: '/errors' },
          { text: 'Performance', link: '/performance' },
        ],
      },
      {
        text: 'Reference',
        items: [
          { text: 'API: every entry point', link: '/reference' },
          { text: 'express-eventstream', link: '/api/' },
          ...['client', 'react', 'fetch', 'fastify', 'koa', 'redis', 'postgres', 'metrics', 'ai'].map(
            (entry) => ({
              text: `express-eventstream/${entry}`,
              link: `/api-${entry}/`,
            }),
          ),
          { text: 'Migrating from 2.x', link: '/migrating' },
          { text: 'Benchmarks', link: '/benchmarks' },
          { text: 'Contributing', link: '/contributing' },
        ],
      },
    ],
  },
});
