// `express-eventstream/svelte`: the browser client as a Svelte store (the store contract, so it
// needs nothing from Svelte itself: `$stream` in a component, or `subscribe()` from plain code).
// The first subscriber opens the connection and the last one leaving closes it, as Svelte's own
// `readable()`; on a server (no `window`) nothing connects, so server rendering shows `connecting`.
import {
  type ConnectionState,
  type ConnectOptions,
  connect,
  type EventMap,
  type EventStreamClient,
  type StreamError,
} from 'express-eventstream/client';

/** The store's value: the connection state, and why it stopped in state `error`. */
export interface EventStreamStatus {
  readonly state: ConnectionState;
  readonly error: StreamError | undefined;
}

/** Svelte's readable store contract. */
export interface EventStreamStore {
  subscribe(run: (value: EventStreamStatus) => void): () => void;
}

/**
 * A store of the stream's status: `const clock = eventStream<AppEvents>('/events/', { channels:
 * ['clock'], on: { time: (data) => … } })`, then `$clock.state` in markup. The options are those
 * of `connect()`; each time the store gains its first subscriber, a new connection is opened.
 */
export function eventStream<M extends object = EventMap>(
  url: string,
  options: ConnectOptions<M> = {},
): EventStreamStore {
  const runs = new Set<(value: EventStreamStatus) => void>();
  let value: EventStreamStatus = { state: 'connecting', error: undefined };
  let client: EventStreamClient<M> | undefined;
  return {
    subscribe(run) {
      // A wrapper per call, so one function subscribed twice is two subscribers.
      const entry = (next: EventStreamStatus): void => run(next);
      runs.add(entry);
      if (runs.size === 1 && 'window' in globalThis) {
        value = { state: 'connecting', error: undefined };
        client = connect<M>(url, {
          ...options,
          onStateChange(state, previous) {
            value = { state, error: client?.error };
            for (const each of [...runs]) each(value);
            options.onStateChange?.(state, previous);
          },
        });
      }
      entry(value);
      return () => {
        if (runs.delete(entry) && runs.size === 0) client?.close();
      };
    },
  };
}
