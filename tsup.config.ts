import { defineConfig } from 'tsup';

// Two builds run side by side, so neither cleans dist/ (one would delete the other's files):
// `npm run build` empties it first (scripts/clean-dist.mjs).
export default defineConfig([
  {
    // The Redis engine, the metrics entry and the framework adapters are their own entries; they
    // import the core by package name so all share one copy of the core's classes (errors compare
    // with instanceof across entries). The frameworks themselves are only used for types.
    entry: {
      index: 'src/index.ts',
      redis: 'src/integrations/redis/index.ts',
      postgres: 'src/integrations/postgres/index.ts',
      metrics: 'src/integrations/metrics/index.ts',
      fastify: 'src/integrations/fastify/index.ts',
      koa: 'src/integrations/koa/index.ts',
      fetch: 'src/integrations/fetch/index.ts',
      ai: 'src/integrations/ai/index.ts',
      mcp: 'src/integrations/mcp/index.ts',
    },
    external: ['express-eventstream', 'ioredis', 'prom-client', 'fastify', 'koa'],
    format: ['esm', 'cjs'],
    // `@internal` members (the Events core accessor, Channel's constructor) stay out of the .d.ts.
    dts: { compilerOptions: { stripInternal: true } },
    sourcemap: true,
    clean: false,
    // Keep `node:` on built-in imports: Deno resolves built-ins only by that prefix.
    removeNodeProtocol: false,
    target: 'node20',
    platform: 'node',
    splitting: false,
  },
  {
    // express-eventstream/client: runs in browsers, so no Node built-ins and an older target.
    // The React, Vue and Svelte bindings import the client by package name (one copy of it in an app).
    entry: {
      'client/index': 'src/client/index.ts',
      react: 'src/integrations/react/index.ts',
      vue: 'src/integrations/vue/index.ts',
      svelte: 'src/integrations/svelte/index.ts',
    },
    external: ['express-eventstream/client', 'react', 'vue'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: false,
    target: 'es2020',
    platform: 'browser',
    splitting: false,
    // The client's internal property names start with `_` and are shortened here (its size
    // budget, test/client-size.test.ts); no public name starts with one. Syntax minification
    // inlines the constants, which an app's bundler does not do across the built file.
    esbuildOptions(options) {
      options.mangleProps = /^_/;
      options.minifySyntax = true;
    },
  },
]);
