// One connection for all tabs of a stream (`share: true`). The tab holding the Web Lock named
// after the stream (URL and channel set) is the leader: it opens the connection and posts every
// event it gets on a BroadcastChannel of the same name before handling it; the other tabs handle
// what it posts. When the leader closes or crashes the browser hands the lock to a waiting tab,
// which connects from its own last id; events it then gets twice are dropped by id (index.ts).
// Tabs with different channel sets are different streams: events carry no channel name, so one
// merged stream could not tell a tab which of its events are its own.
import type { Emit, Source } from './sources.js';

interface LockManager {
  request(name: string, options: { signal: unknown }, grant: () => Promise<void>): Promise<unknown>;
}

interface Channel {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((message: { data: unknown[] }) => void) | null;
}

export interface ShareGlobals {
  navigator?: { locks?: LockManager };
  BroadcastChannel?: new (name: string) => Channel;
}

export interface Group {
  readonly leader: boolean;
  /** The leader's emit: every report goes to the other tabs too. */
  tee(emit: Emit): Emit;
  /** A follower's source: the leader's reports (asks the leader where the group is). */
  follow(emit: Emit): Source;
  close(): void;
}

/** A new tab asking where the group is; no event name holds a CR. */
const HELLO = '\r';

/**
 * Joins the group `name`, or undefined where Web Locks or BroadcastChannel are missing.
 * `lead()` runs when this tab becomes the leader; `greeting()` is a leader's answer to a new
 * tab (a `stream-open` at the group's position), undefined while it is not connected.
 */
export function joinGroup(
  g: ShareGlobals,
  name: string,
  lead: () => void,
  greeting: () => Parameters<Emit> | undefined,
): Group | undefined {
  const locks = g.navigator?.locks;
  const Broadcast = g.BroadcastChannel;
  if (locks === undefined || Broadcast === undefined) return undefined;
  const channel = new Broadcast(name);
  const me = Math.random().toString(36);
  const stop = new AbortController();
  let relay: Emit | undefined;
  let release = (): void => {};
  let leader = false;
  channel.onmessage = ({ data }) => {
    if (data[0] === HELLO) {
      const open = leader ? greeting() : undefined;
      if (open !== undefined) channel.postMessage([...open, data[1]]);
    } else if (!leader && (data[5] === undefined || data[5] === me)) {
      relay?.(...(data.slice(0, 5) as Parameters<Emit>));
    }
  };
  locks
    .request(name, { signal: stop.signal }, () => {
      leader = true;
      lead();
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    })
    // Aborted while waiting: this tab closed before it led.
    .catch(() => {});
  return {
    get leader() {
      return leader;
    },
    tee: (emit) => (name, data, id, status, own) => {
      channel.postMessage([name, data, id, status, own]);
      emit(name, data, id, status, own);
    },
    follow(emit) {
      relay = emit;
      channel.postMessage([HELLO, me]);
      return { close: () => {} };
    },
    close() {
      release();
      stop.abort();
      channel.close();
    },
  };
}
