// One connection for all tabs of an endpoint (`share: true`). The tab holding the Web Lock named
// after the endpoint (its URL without channels) is the leader: it opens one stream on every tab's
// channels, asking the server to tag each event with its channel (`?channelField=1`) when the tabs'
// channel sets differ (untagged when they are all the same: a GRIP proxy cannot tag), and posts
// every report on a BroadcastChannel of the same name before handling it; every tab handles the
// events of its own channels (index.ts). Each tab holds a second lock for as long as it is in the
// group and announces its channels once it holds it; the leader waits on the locks of the others,
// so a tab that closes or crashes releases its channels, and the leader reconnects with fewer.
// When the leader goes, the browser hands its lock to a waiting tab, which connects from the last
// id of the group's stream it saw; events a tab already had are dropped by id (index.ts). A tab
// whose channels make the leader reconnect is read from its own last id when that is earlier.
import type { Emit, Source } from './sources.js';

/** `<epoch>-<seq>` as [epoch, seq]; seq undefined for any other id. */
const split = (id = ''): string[] => id.split(/-(?=\d+$)/);

/**
 * Whether `id` comes after `last`: `<epoch>-<seq>` ids of one epoch compare by seq; any other
 * pair (or none) differs or not. Tabs sharing a stream drop what they already had after a failover.
 */
export function isAfter(id: string | undefined, last: string | undefined): boolean {
  const [epoch, seq] = split(id);
  const [lastEpoch, lastSeq] = split(last);
  return seq && lastSeq && epoch === lastEpoch ? +seq > +lastSeq : id !== last;
}

interface LockManager {
  request(name: string, options: { signal: unknown }, grant: () => unknown): Promise<unknown>;
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
  /** The last id of the group's stream this tab saw: where a new leader resumes. */
  _at?: string;
  /** The channels of the group's stream: every member's, sorted. */
  _channels(): string[];
  /** Set by `_channels()`: the members' sets differ, so the stream must tag each event's channel. */
  _tag?: boolean;
  /** The leader's reports go to the other tabs too. */
  _post(report: Parameters<Emit>): void;
  /** A follower's source: the leader's reports (announces this tab to the leader). */
  _follow(emit: Emit): Source;
  _close(): void;
}

/** Messages that are no report: no event name holds a CR. */
const HELLO = '\r';
const MEMBERS = '\r\r';

/**
 * Joins the group `name` with `mine` (this tab's channels) from `at` (its last id), or undefined
 * where Web Locks or BroadcastChannel are missing. `lead()` (re)opens the stream: when this tab
 * becomes the leader, and when the group's channels change while it leads. `open()` says whether the stream is open
 * (a new tab is then told so at once).
 */
export function joinGroup(
  g: ShareGlobals,
  name: string,
  mine: string[],
  at: string | undefined,
  lead: () => void,
  open: () => boolean,
): Group | undefined {
  const locks = g.navigator?.locks;
  const Broadcast = g.BroadcastChannel;
  if (!locks || !Broadcast) return;
  const channel = new Broadcast(name);
  const me = `${Math.random()}`;
  const stop = new AbortController();
  const signal = stop.signal;
  // Every tab's channels, this one's included; and the tab that last said it leads.
  let members: Record<string, string[]> = { [me]: mine };
  let leader: unknown;
  let streamed = '';
  let relay: Emit | undefined;
  let alive = false;
  // Listed by the leader: its stream has this tab's channels from then on (before, an untagged
  // stream may carry other channels).
  let joined = false;
  const releases: Array<() => void> = [];
  // A Web Lock: `then` runs once it is granted; it is held until `then`'s promise settles.
  const request = (lock: string, then: () => unknown): void => {
    // Aborted while waiting: this tab left first.
    locks.request(lock, { signal }, then).catch(() => {});
  };
  // Held until this tab leaves.
  const held = (): Promise<void> => new Promise((resolve) => releases.push(resolve));
  const post = (message: unknown[]): void => channel.postMessage(message);
  // With this tab's position: the group's, or its own until it has that.
  const hello = (): void => post([HELLO, me, mine, group._at ?? at]);
  // The leader: tell the others who is in, and follow the group's channels.
  const union = (): string[] => [...new Set(Object.values(members).flat())].sort();
  // The stream to open: the union, tagged unless every member wants just that (a GRIP proxy
  // cannot tag, so the common case of one set stays untagged).
  const wanted = (): string => {
    const all = union().join('\n');
    return all + Object.values(members).some((set) => [...set].sort().join('\n') !== all);
  };
  const changed = (): boolean => {
    post([MEMBERS, me, members]);
    if (wanted() === streamed) return false;
    lead();
    return true;
  };
  // The leader waits on a member's lock: granted when that tab has left.
  const watch = (id: string): void =>
    request(`${name} ${id}`, () => {
      delete members[id];
      changed();
    });
  const group: Group = {
    _channels() {
      streamed = wanted();
      group._tag = streamed.endsWith('true');
      return union();
    },
    _post(report) {
      if (report[4]) group._at = report[2];
      post(report);
    },
    _follow(emit) {
      relay = emit;
      if (alive) hello();
      return { _close() {} };
    },
    _close() {
      for (const release of releases) release();
      stop.abort();
      channel.close();
    },
  };
  channel.onmessage = ({ data }) => {
    const [kind, id, value, from] = data as [string, string, never, string | undefined];
    if (kind === HELLO) {
      const known = id in members;
      members[id] = value;
      if (!group._leader) return;
      if (!known) watch(id);
      const now = group._at;
      // A tab whose channels make the stream reconnect (one it lacks) is read from its own
      // position when that is earlier than the group's: the other tabs drop what they had, by id.
      if (isAfter(now, from) && !isAfter(from, now)) group._at = from;
      if (!changed()) {
        // Joining the stream as it is: from the group's position.
        group._at = now;
        if (open()) post(['stream-open', '', now, undefined, false, undefined, id]);
      }
    } else if (kind === MEMBERS) {
      leader = id;
      members = value;
      joined ||= me in members;
      members[me] = mine;
    } else if (!group._leader && joined && (data[6] ?? me) === me) {
      if (data[4]) group._at = data[2] as string;
      relay?.(...(data.slice(0, 6) as Parameters<Emit>));
    }
  };
  request(`${name} ${me}`, () => {
    alive = true;
    if (relay) hello();
    return held();
  });
  request(name, () => {
    group._leader = true;
    if (leader !== me) delete members[leader as string];
    for (const id in members) if (id !== me) watch(id);
    post([MEMBERS, me, members]);
    lead();
    return held();
  });
  return group;
}
