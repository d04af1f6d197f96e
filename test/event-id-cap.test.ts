// The event id cap (issue 19, defect 8), through the built package: one length, shared by the
// server (ids it publishes and resumes from) and the browser client (ids it stores and sends).
import { beforeAll, describe, expect, it } from 'vitest';
import type * as Client from '../src/client/index.js';
import type * as Lib from '../src/index.js';

let lib: typeof Lib;
let client: typeof Client;
beforeAll(async () => {
  const names = ['express-eventstream', 'express-eventstream/client'];
  lib = (await import(names[0]!)) as typeof Lib;
  client = (await import(names[1]!)) as typeof Client;
});

describe('event id length cap', () => {
  it('is one value, exported by the server and the client', () => {
    expect(lib.MAX_EVENT_ID_LENGTH).toBe(2048);
    expect(client.MAX_EVENT_ID_LENGTH).toBe(lib.MAX_EVENT_ID_LENGTH);
  });

  it('publish() with history: false refuses a longer id with a typed error naming the id', async () => {
    const ev = lib.events({ history: false, keepAlive: false });
    try {
      await expect(ev.publish('a', { id: 'x'.repeat(2048), data: 1 })).resolves.toBeUndefined();
      const refused = ev.publish('a', { id: 'x'.repeat(20_000), data: 1 });
      await expect(refused).rejects.toBeInstanceOf(lib.InvalidEventError);
      await expect(refused).rejects.toMatchObject({ code: 'ERR_SSE_INVALID_EVENT', field: 'id' });
      await expect(refused).rejects.toThrow('id is 20000 characters long; at most 2048');
      expect(() => lib.encodeEvent({ id: 'x'.repeat(2049) })).toThrow(lib.InvalidEventError);
    } finally {
      await ev.close();
    }
  });

  it('connect() refuses a lastEventId option the server could never resume from', () => {
    class NeverOpened {
      readonly readyState = 0;
      addEventListener(): void {}
      close(): void {}
    }
    const options = { EventSource: NeverOpened, persist: false as const };
    for (const bad of ['error', 'x'.repeat(2049), 'a\nb']) {
      expect(() => client.connect('http://127.0.0.1/events/', { ...options, lastEventId: bad })).toThrow(
        TypeError,
      );
    }
    expect(
      client.connect('http://127.0.0.1/events/', { ...options, lastEventId: 'x'.repeat(2048) }).lastEventId,
    ).toBe('x'.repeat(2048));
  });
});
