// The last event id in sessionStorage, so a page reload resumes from the server's history.
import type { ConnectOptions, StorageLike } from './types.js';

export interface StorageGlobals {
  sessionStorage?: StorageLike;
  document?: { readonly visibilityState?: string };
  addEventListener?: (type: string, listener: () => void) => void;
  removeEventListener?: (type: string, listener: () => void) => void;
}

/** How long a persisted id may wait before it is written (visible pages; hidden ones write at once). */
const WRITE_DELAY_MS = 50;

export interface Persistence {
  load(): string | undefined;
  /** Remember `id`: written at once on a hidden page, else within WRITE_DELAY_MS. */
  save(id: string): void;
  /** Write what is pending now. */
  flush(): void;
  remove(): void;
}

/**
 * sessionStorage access that never throws (storage can be disabled, full or sandboxed). A write
 * costs far more than handling an event, so on a visible page the last id is written at most once
 * per WRITE_DELAY_MS, and at once when the page is hidden or left (`visibilitychange`,
 * `pagehide`, `freeze`): the page may be discarded while hidden, so then every id is written.
 */
export function persistence(
  option: ConnectOptions['persist'],
  g: StorageGlobals,
  streamKey: string,
): Persistence {
  const none: Persistence = { load: () => undefined, save: () => {}, flush: () => {}, remove: () => {} };
  if (option === false) return none;
  const custom = typeof option === 'object' ? option : {};
  let storage: StorageLike | undefined;
  try {
    storage = custom.storage ?? g.sessionStorage;
  } catch {
    return none;
  }
  if (storage === undefined) return none;
  const key = custom.key ?? `express-eventstream:last-event-id:${streamKey}`;
  const store = storage;
  // Without a page (a worker, Node) there is no lifecycle to flush on: write through.
  const paged = typeof g.document?.visibilityState === 'string' && typeof g.addEventListener === 'function';
  const hidden = (): boolean => g.document?.visibilityState !== 'visible';
  let pending: string | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let listening = false;
  const write = (run: () => void): void => {
    try {
      run();
    } catch {
      // Quota or privacy mode: resuming after a reload is lost, streaming is not.
    }
  };
  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (pending === undefined) return;
    const id = pending;
    pending = undefined;
    write(() => store.setItem(key, id));
  };
  const onHide = (): void => {
    if (hidden()) flush();
  };
  const LIFECYCLE: Array<[string, () => void]> = [
    ['visibilitychange', onHide],
    ['pagehide', flush],
    ['freeze', flush],
  ];
  return {
    load() {
      try {
        // Empty: removed (StorageLike has no removeItem) or never written.
        return store.getItem(key) || undefined;
      } catch {
        return undefined;
      }
    },
    save(id) {
      pending = id;
      if (!paged || hidden()) {
        flush();
        return;
      }
      if (!listening) {
        listening = true;
        for (const [type, fn] of LIFECYCLE) g.addEventListener?.(type, fn);
      }
      timer ??= setTimeout(flush, WRITE_DELAY_MS);
    },
    flush() {
      flush();
      if (!listening) return;
      listening = false;
      for (const [type, fn] of LIFECYCLE) g.removeEventListener?.(type, fn);
    },
    remove() {
      pending = undefined;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      write(() => store.setItem(key, ''));
    },
  };
}
