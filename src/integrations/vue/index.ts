// `express-eventstream/vue`: the browser client as a Vue composable. The connection belongs to
// the calling effect scope (a component's setup, or `effectScope()`), is closed when the scope is
// disposed, and is reopened when a ref or getter URL changes. On a server (no `window`) nothing
// connects, so server rendering renders the `connecting` state.
import {
  type ConnectionState,
  type ConnectOptions,
  connect,
  type EventMap,
  type EventStreamClient,
  type StreamError,
} from 'express-eventstream/client';
import { type MaybeRefOrGetter, onScopeDispose, type Ref, shallowRef, toValue, watch } from 'vue';

/** What the composable returns: the connection state, and why it stopped in state `error`. */
export interface EventStreamRefs {
  readonly state: Readonly<Ref<ConnectionState>>;
  readonly error: Readonly<Ref<StreamError | undefined>>;
}

/**
 * Subscribes while the calling scope lives: `useEventStream<AppEvents>('/events/', { channels:
 * ['clock'], on: { time: (data) => (time.value = data.value) } })`. `url` may be a ref or a
 * getter (a change reconnects; undefined: no connection). The options are those of `connect()`.
 */
export function useEventStream<M extends object = EventMap>(
  url: MaybeRefOrGetter<string | undefined>,
  options: ConnectOptions<M> = {},
): EventStreamRefs {
  const state = shallowRef<ConnectionState>('connecting');
  const error = shallowRef<StreamError>();
  if ('window' in globalThis) {
    const stop = watch(
      () => toValue(url),
      (href, _, onCleanup) => {
        if (href === undefined) return;
        state.value = 'connecting';
        let client: EventStreamClient<M> | undefined;
        client = connect<M>(href, {
          ...options,
          onStateChange(next, previous) {
            state.value = next;
            error.value = client?.error;
            options.onStateChange?.(next, previous);
          },
        });
        onCleanup(client.close);
      },
      { immediate: true },
    );
    onScopeDispose(stop);
  }
  return { state, error };
}
