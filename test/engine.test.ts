// The engine seam's in-process parts: control messages by topic and shared state with expiry,
// as events() runs them (defaults) and as options (any object with the interface's methods).
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type ControlChannel,
  type ControlSink,
  events,
  InvalidOptionError,
  type JsonValue,
  LocalControl,
  MAX_CONTROL_PAYLOAD_BYTES,
  MemoryState,
} from '../src/index.js';
import { checkCompareAndSet } from './helpers/state-cas.js';

// How features reach the running engine (not public API).
type Running = {
  engine: {
    control: {
      send(t: string, p: JsonValue): Promise<void>;
      on(t: string, h: (p: unknown) => void): () => void;
      resync(): void;
      onResync(l: () => void): () => void;
    };
    state: MemoryState;
    shared: boolean;
  };
};
const internals = (ev: object) => (ev as Record<symbol, Running>)[Symbol.for('express-eventstream.core')]!;

afterEach(() => {
  vi.useRealTimers();
});

describe('control messages', () => {
  it('reach every handler of their topic, later than the send and as JSON', async () => {
    const ev = events();
    const { control } = internals(ev).engine;
    const got: unknown[] = [];
    const off = control.on('revoke', (p) => got.push(p));
    control.on('other', () => got.push('wrong topic'));
    const sent = { sub: 'u1', at: 1 };
    const sending = control.send('revoke', sent);
    expect(got).toEqual([]); // never inside the sender's call
    await sending;
    await vi.waitFor(() => expect(got).toEqual([{ sub: 'u1', at: 1 }]));
    expect(got[0]).not.toBe(sent);
    off();
    await control.send('revoke', 2);
    await new Promise((r) => setImmediate(r));
    expect(got).toHaveLength(1);
    await ev.close();
  });

  it('refuse bad topics and oversized or unserializable payloads before sending', async () => {
    const control = new LocalControl();
    expect(() => control.send('Bad Topic', 1)).toThrow(InvalidOptionError);
    expect(() => control.send('x'.repeat(65), 1)).toThrow(/at most 64/);
    expect(() => control.send('t', 'x'.repeat(MAX_CONTROL_PAYLOAD_BYTES))).toThrow(/at most 7000 bytes/);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(() => control.send('t', loop as JsonValue)).toThrow(/JSON-serializable/);
  });

  it('a handler that throws is reported and does not stop the others', async () => {
    const ev = events();
    const errors: Error[] = [];
    ev.on('error', (e) => errors.push(e));
    const { control } = internals(ev).engine;
    const got: unknown[] = [];
    control.on('t', () => {
      throw new Error('boom');
    });
    control.on('t', (p) => got.push(p));
    await control.send('t', 'x');
    await vi.waitFor(() => expect(got).toEqual(['x']));
    expect(errors.map((e) => e.message)).toEqual(['boom']);
    await ev.close();
  });

  it('a given channel is started with the router and closed with the namespace', async () => {
    let sink: ControlSink | undefined;
    let closed = 0;
    const channel: ControlChannel = {
      start: (s) => {
        sink = s;
      },
      send: async () => {},
      close: async () => {
        closed++;
      },
    };
    const ev = events({ control: channel, state: new MemoryState() });
    expect(internals(ev).engine.shared).toBe(true);
    const got: unknown[] = [];
    internals(ev).engine.control.on('presence.join', (p) => got.push(p));
    sink?.receive('presence.join', { id: 'c1' });
    const resyncs: number[] = [];
    internals(ev).engine.control.onResync(() => resyncs.push(1));
    sink?.resync?.();
    expect(got).toEqual([{ id: 'c1' }]);
    expect(resyncs).toEqual([1]);
    await ev.close();
    expect(closed).toBe(1);
  });

  it('events() refuses a control or state that lacks a method, naming it', () => {
    expect(() =>
      events({ control: { start() {}, send: async () => {} } as unknown as ControlChannel }),
    ).toThrow(/control is missing close\(\)/);
    expect(() => events({ state: {} as MemoryState })).toThrow(/state is missing put\(\)/);
    const { compareAndSet: _, ...withoutCas } = Object.fromEntries(
      ['put', 'compareAndSet', 'get', 'delete', 'entries', 'count', 'close'].map((m) => [m, () => {}]),
    );
    expect(() => events({ state: withoutCas as unknown as MemoryState })).toThrow(
      /state is missing compareAndSet\(\)/,
    );
    expect(() => events({ state: 1 as unknown as MemoryState })).toThrow(/state must be a SharedState/);
  });
});

describe('MemoryState', () => {
  it('compareAndSet: exactly one of the callers from one expected value wins; an expired entry is absent', async () => {
    const state = new MemoryState();
    await checkCompareAndSet([state, state, state], 'cas');
  });

  it('expires entries after their ttl and refreshes them when set again', async () => {
    vi.useFakeTimers();
    const state = new MemoryState();
    await state.put('presence:room', 'c1', '{"name":"a"}', 1000);
    await state.put('presence:room', 'c2', '{"name":"b"}', 3000);
    expect(await state.count('presence:room')).toBe(2);
    vi.advanceTimersByTime(999);
    await state.put('presence:room', 'c1', '{"name":"a2"}', 1000); // refreshed
    vi.advanceTimersByTime(500);
    expect(await state.get('presence:room', 'c1')).toBe('{"name":"a2"}');
    vi.advanceTimersByTime(600);
    expect(await state.get('presence:room', 'c1')).toBeUndefined();
    expect(await state.entries('presence:room')).toEqual([['c2', '{"name":"b"}']]);
    vi.advanceTimersByTime(2000);
    expect(await state.count('presence:room')).toBe(0);
  });

  it('delete says whether a live entry was there; entries() honours its limit', async () => {
    const state = new MemoryState();
    for (let i = 0; i < 5; i++) await state.put('s', `k${i}`, String(i), 60_000);
    expect(await state.entries('s', 2)).toHaveLength(2);
    expect(await state.delete('s', 'k1')).toBe(true);
    expect(await state.delete('s', 'k1')).toBe(false);
    expect(await state.count('s')).toBe(4);
  });

  it('refuses bad arguments with the option named', async () => {
    const state = new MemoryState();
    expect(() => state.put('', 'k', 'v', 1000)).toThrow(/state scope/);
    expect(() => state.put('s', 'k', 'v', 0)).toThrow(/ttlMs/);
    expect(() => state.put('s', 'k', 'v', 86_400_001)).toThrow(/ttlMs/);
    expect(() => state.put('s', 'k', 1 as unknown as string, 1000)).toThrow(/state value/);
    expect(() => state.entries('s', 0)).toThrow(/limit/);
  });

  it('does not keep a scope whose entries all expired (nothing pinned)', async () => {
    vi.useFakeTimers();
    const state = new MemoryState();
    for (let i = 0; i < 1000; i++) await state.put(`scope${i}`, 'k', 'v', 10);
    vi.advanceTimersByTime(20);
    for (let i = 0; i < 1000; i++) expect(await state.count(`scope${i}`)).toBe(0);
    // The scopes map is private: observe it through a fresh put not finding old entries.
    await state.put('scope0', 'k2', 'v', 10);
    expect(await state.entries('scope0')).toEqual([['k2', 'v']]);
  });
});
