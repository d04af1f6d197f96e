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

/** Internal names start with `_`: the build shortens them (tsup.config.ts). */
export interface Group {
  _leader?: boolean;
  /** The leader's emit: every report goes to the other tabs too. */
  _tee(emit: Emit): Emit;
  /** A follower's source: the leader's reports (asks the leader where the group is). */
  _follow(emit: Emit): Source;
  _close(): void;
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
  if (!locks || !Broadcast) return;
  const channel = new Broadcast(name);
  const me = `${Math.random()}`;
  const stop = new AbortController();
  let relay: Emit | undefined;
  let release = (): void => {};
  const group: Group = {
    _tee:
      (emit) =>
      (...report) => {
        channel.postMessage(report);
        emit(...report);
      },
    _follow(emit) {
      relay = emit;
      channel.postMessage([HELLO, me]);
      return { _close() {} };
    },
    _close() {
      release();
      stop.abort();
      channel.close();
    },
  };
  channel.onmessage = ({ data }) => {
    const open = group._leader && data[0] === HELLO && greeting();
    if (open) channel.postMessage([...open, data[1]]);
    else if (!group._leader && data[0] !== HELLO && (data[5] ?? me) === me)
      relay?.(...(data.slice(0, 5) as Parameters<Emit>));
  };
  locks
    .request(name, { signal: stop.signal }, () => {
      group._leader = true;
      lead();
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    })
    // Aborted while waiting: this tab closed before it led.
    .catch(() => {});
  return group;
}
