// The last event id in sessionStorage, so a page reload resumes from the server's history.
import type { ConnectOptions, StorageLike } from './types.js';

export interface StorageGlobals {
  sessionStorage?: StorageLike;
  document?: { readonly visibilityState?: string };
  addEventListener?: (type: string, listener: () => void) => void;
  removeEventListener?: (type: string, listener: () => void) => void;
}

/** When a page may be discarded or left: what is pending is written then. */
const LIFECYCLE = ['visibilitychange', 'pagehide', 'freeze'];

/**
 * The stored id, and `save(id)` (`''` removes it; `undefined` writes what is pending and stops
 * listening to the page). Storage access never throws (storage can be disabled, full or
 * sandboxed). A write costs far more than handling an event, so a visible page writes the last id
 * at most once per 50 ms, and at once when it is hidden or left: it may be discarded while
 * hidden. Without a page (a worker, Node) there is no lifecycle: every id is written.
 */
export function persistence(
  option: ConnectOptions['persist'],
  g: StorageGlobals,
  streamKey: string,
): [stored: string | undefined, save: (id?: string) => void] {
  const custom = typeof option === 'object' ? option : {};
  const key = custom.key ?? `express-eventstream:last-event-id:${streamKey}`;
  let storage: StorageLike | undefined;
  let stored: string | undefined;
  let pending: string | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    storage = option === false ? undefined : (custom.storage ?? g.sessionStorage);
    // Empty: removed (StorageLike has no removeItem) or never written.
    stored = storage?.getItem(key) || undefined;
  } catch {}
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    try {
      // Quota or privacy mode: resuming after a reload is lost, streaming is not.
      if (pending !== undefined) storage?.setItem(key, pending);
    } catch {}
    pending = undefined;
  };
  // A page: writes wait for a burst to end, or for the page to be hidden or left.
  const paged = storage && g.document?.visibilityState && g.addEventListener;
  const listen = (add?: boolean): void => {
    if (paged)
      for (const type of LIFECYCLE) g[add ? 'addEventListener' : 'removeEventListener']?.(type, flush);
  };
  listen(true);
  return [
    stored,
    (id) => {
      if (id !== undefined) pending = id;
      if (id && paged && g.document?.visibilityState === 'visible') timer ??= setTimeout(flush, 50);
      else {
        flush();
        if (id === undefined) listen();
      }
    },
  ];
}
