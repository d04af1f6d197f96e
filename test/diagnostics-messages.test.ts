// What diagnostics messages and connect/disconnect listeners hand out (issue 19, defect 11), through
// the built package: the channel lists are the connection's own, so they are frozen, and a
// subscriber that tries to change one changes nothing the server relies on.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type * as Lib from '../src/index.js';
import { startServer, type TestServer } from './helpers/server.js';
import { connect, until } from './helpers/sse-client.js';

let lib: typeof Lib;
beforeAll(async () => {
  const specifier = 'express-eventstream';
  lib = (await import(specifier)) as typeof Lib;
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function serve(options: Lib.EventsOptions): Promise<{ ev: Lib.Events; server: TestServer }> {
  const ev = lib.events({ keepAlive: false, ...options });
  const server = await startServer(lib.createHandler({ events: ev }));
  cleanups.push(async () => {
    await ev.close();
    await server.close();
  });
  return { ev, server };
}

describe('channel lists in diagnostics messages', () => {
  it.each([
    ['with history', {}],
    ['without history', { history: false as const }],
  ])(
    'a subscriber cannot change them: the channels are released when the client leaves (%s)',
    async (_, options) => {
      const { ev, server } = await serve(options);
      const attempts: string[] = [];
      const tamper = (m: { channels: readonly string[] }) => {
        try {
          (m.channels as string[]).pop();
          attempts.push('changed');
        } catch (err) {
          attempts.push((err as Error).name);
        }
      };
      cleanups.push(lib.onDiagnostics('connect', tamper));
      ev.on('connect', tamper);
      const client = await connect(server.url('/?channel=a&channel=b'));
      await client.waitFor((c) => c.named('stream-open').length === 1, 5000, 'stream-open');
      expect(ev.stats().subscribers).toEqual({ a: 1, b: 1 });

      const left: Array<readonly string[]> = [];
      cleanups.push(lib.onDiagnostics('disconnect', (m) => left.push([...m.channels])));
      client.close();
      await until(() => left.length === 1, 5000, 'the disconnect');
      expect(left).toEqual([['a', 'b']]);
      expect(ev.stats().subscribers).toEqual({});
      expect(ev.stats().connections).toBe(0);
      // Both tries threw (a frozen array): Node would rethrow that from a diagnostics subscriber
      // as an uncaught exception, which is why this one catches.
      expect(attempts).toEqual(['TypeError', 'TypeError']);
    },
  );
});
