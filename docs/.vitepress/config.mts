// The docs site: `npm run docs` generates the API reference (TypeDoc, into docs/api/ and
// docs/api-{redis,client,metrics}/ for the subpath exports) and builds
// this site into docs/.vitepress/dist/. Dead internal links fail the build (VitePress's default);
// only links to a local dev server (http://localhost:3000 in the examples) are exempt.
import { defineConfig } from 'vitepress';

export default defineConfig({
  title: 'express-eventstream',
  description:
    'Server-Sent Events for Express and node:http: named channels, lossless reconnection, GRIP scaling.',
  cleanUrls: true,
  ignoreDeadLinks: 'localhostLinks',
  themeConfig: {
    search: { provider: 'local' },
    outline: 'deep',
    nav: [
      { text: 'Guide', link: '/getting-started' },
      { text: 'API', link: '/api/' },
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
          { text: 'API', link: '/api/' },
          { text: 'API: express-eventstream/redis', link: '/api-redis/' },
          { text: 'API: express-eventstream/client', link: '/api-client/' },
          { text: 'API: express-eventstream/metrics', link: '/api-metrics/' },
          { text: 'Migrating from 2.x', link: '/migrating' },
          { text: 'Benchmarks', link: '/benchmarks' },
          { text: 'Contributing', link: '/contributing' },
        ],
      },
    ],
  },
});
