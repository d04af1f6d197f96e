// What a newcomer's first mistakes meet (issue 26): `channel(name).write()` is checked against
// the event map as `publish()` is (`npm run typecheck` fails on an unused @ts-expect-error), and
// the Events object passed where the handler options go gets an error that says so, not one
// naming an EventEmitter internal. The run-time half runs the built package.

import { Readable } from 'node:stream';
import { createHandler, type Events, events, express, InvalidOptionError } from 'express-eventstream';
import { fetchHandler } from 'express-eventstream/fetch';
import { describe, expect, it } from 'vitest';

interface AppEvents {
  time: { value: string };
  message: { text: string };
}

/** Never called: only compiled. */
function typeChecks(ev: Events<AppEvents>, loose: Events): void {
  const clock = ev.channel('clock');
  clock.write({ event: 'time', data: { value: '12:00' } });
  clock.write({ data: { text: 'hi' } }, (error) => void error); // no name: 'message'
  clock.write({ event: 'time', data: { value: '12:00' } }, 'utf8', () => {});
  // @ts-expect-error wrong data type for 'time'
  clock.write({ event: 'time', data: { value: 1 } });
  // @ts-expect-error unknown event name
  clock.write({ event: 'nope', data: { value: 'x' } });
  // @ts-expect-error data of another event
  clock.write({ event: 'time', data: { text: 'hi' } });
  // Still a Node stream: readable.pipe(channel) and pipeline() type-check.
  Readable.from([{ event: 'time', data: { value: '12:00' } }]).pipe(clock);
  // Without a map any event goes, as with publish().
  loose.channel('c').write({ event: 'anything', data: [1, 2] });

  // @ts-expect-error the options object holds the Events object: express({ events: ev })
  express(ev);
  // @ts-expect-error createHandler({ events: ev })
  createHandler(ev);
}
void typeChecks;

describe('an Events object given as the handler options', () => {
  const ev = events();
  const handlers = {
    express: () => express(ev as never),
    createHandler: () => createHandler(ev as never),
    fetchHandler: () => fetchHandler(ev as never),
  };
  for (const [name, make] of Object.entries(handlers)) {
    it(`${name}(ev) says to pass { events }`, () => {
      let error: unknown;
      try {
        make();
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option).toBe('options');
      expect((error as Error).message).toMatch(
        /given an Events object itself; pass the options object \{ events \}/,
      );
      expect((error as Error).message).not.toMatch(/_events/);
    });
  }
});
