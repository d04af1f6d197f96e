// `express-eventstream/react`: the browser client as a React hook. The connection lives in an
// effect (none on the server, so SSR never touches `window`), is closed by the effect's cleanup
// (StrictMode's double mount opens, closes and opens again), and is reopened only when the URL,
// channels or transport change: handlers are read through a ref, so inline functions that change
// on every render neither reconnect nor go stale.
import {
  type ConnectionState,
  type ConnectOptions,
  connect,
  type EventDetails,
  type EventMap,
  type EventStreamClient,
  type StreamError,
} from 'express-eventstream/client';
import { useEffect, useRef, useState } from 'react';

/** What the hook returns: the connection state, and why it stopped in state `error`. */
export interface EventStreamStatus {
  readonly state: ConnectionState;
  readonly error: StreamError | undefined;
}

type Handler = (data: unknown, details: EventDetails) => void;

/**
 * Subscribes while the component is mounted: `useEventStream<AppEvents>('/events/', { channels:
 * ['clock'], on: { time: (data) => setTime(data.value) } })`. `url` undefined: no connection.
 * The options are those of `connect()`; changing `url`, `channels`, `transport`, `share`, `raw`
 * or `persist` reconnects, anything else takes effect at once.
 */
export function useEventStream<M extends object = EventMap>(
  url: string | undefined,
  options: ConnectOptions<M> = {},
): EventStreamStatus {
  const latest = useRef(options);
  latest.current = options;
  const [status, setStatus] = useState<EventStreamStatus>({ state: 'connecting', error: undefined });
  const names = Object.keys(options.on ?? {}).sort();
  const key = JSON.stringify([
    url,
    options.channels,
    options.transport,
    options.share,
    options.raw,
    options.persist,
    names,
  ]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` stands for what reconnects; the rest is read through the ref.
  useEffect(() => {
    if (url === undefined) return;
    setStatus({ state: 'connecting', error: undefined });
    const now = () => latest.current as ConnectOptions<EventMap>;
    const on: Record<string, Handler> = {};
    for (const name of names)
      on[name] = (data, details) => (now().on?.[name] as Handler | undefined)?.(data, details);
    let client: EventStreamClient<EventMap> | undefined;
    client = connect<EventMap>(url, {
      ...now(),
      on,
      onOpen: (info) => now().onOpen?.(info),
      onReset: (channels, reason) => now().onReset?.(channels, reason),
      onError: (error) => now().onError?.(error),
      onStateChange: (state, previous) => {
        setStatus({ state, error: client?.error });
        now().onStateChange?.(state, previous);
      },
    });
    return () => client?.close();
  }, [key]);
  return status;
}
