// One channel's members as this process knows them: every stream on the channel across
// processes, grouped by member. `presence()` answers from here, so a query costs no state read;
// the tracker keeps it current from its own streams, the other processes' control messages and
// reloads from the shared state.
import type { JsonValue } from '../engine/control.js';
import type { PresenceEntry, PresenceSnapshot } from './members.js';

/** A stream in the view: whose it is and which process holds it (its lease owner). */
export interface ViewStream {
  member: string;
  info: JsonValue | undefined;
  owner: string;
}

interface ViewMember {
  /** The info of the member's newest stream. */
  info: JsonValue | undefined;
  connections: number;
}

export class ChannelView {
  readonly #streams = new Map<string, ViewStream>();
  readonly #members = new Map<string, ViewMember>();
  /** The first read of the state is done: joins and leaves from now on are real changes. */
  loaded = false;
  /** The read in flight, if any. */
  loading: Promise<void> | undefined;
  /** Streams opened and closed while a read is in flight: the read's older picture yields to them. */
  readonly openedDuringLoad = new Set<string>();
  readonly closedDuringLoad = new Set<string>();
  /** When the last read finished (reconciliation is due a ttl later). */
  loadedAt = 0;
  /** This process's own streams on the channel: the view is kept while there are any. */
  localStreams = 0;
  lastQueriedAt = 0;
  /** The last snapshot, frozen, until the next change: a query between changes allocates nothing. */
  #snapshot: PresenceSnapshot | undefined;

  /** Adds a stream; returns whether its member was not present before (a join). */
  add(key: string, stream: ViewStream): boolean {
    const known = this.#streams.get(key);
    if (known !== undefined) {
      if (known.member === stream.member) return false;
      this.remove(key);
    }
    this.#streams.set(key, stream);
    this.#snapshot = undefined;
    const member = this.#members.get(stream.member);
    if (member === undefined) {
      this.#members.set(stream.member, { info: stream.info, connections: 1 });
      return true;
    }
    member.connections++;
    member.info = stream.info;
    return false;
  }

  /** Removes a stream; returns its member's id when that was its last stream (a leave). */
  remove(key: string): { member: string; left: boolean; owner: string } | undefined {
    const stream = this.#streams.get(key);
    if (stream === undefined) return undefined;
    this.#streams.delete(key);
    this.#snapshot = undefined;
    const member = this.#members.get(stream.member);
    if (member === undefined) return { member: stream.member, left: false, owner: stream.owner };
    member.connections--;
    if (member.connections > 0) return { member: stream.member, left: false, owner: stream.owner };
    this.#members.delete(stream.member);
    return { member: stream.member, left: true, owner: stream.owner };
  }

  has(key: string): boolean {
    return this.#streams.has(key);
  }

  /** Every stream, for reconciliation and for detaching the view's leases when it is dropped. */
  streams(): IterableIterator<[string, ViewStream]> {
    return this.#streams.entries();
  }

  snapshot(channel: string): PresenceSnapshot {
    if (this.#snapshot !== undefined) return this.#snapshot;
    const members: PresenceEntry[] = [];
    for (const [id, m] of this.#members)
      members.push(Object.freeze({ id, info: m.info, connections: m.connections }));
    Object.freeze(members);
    this.#snapshot = Object.freeze({
      channel,
      count: members.length,
      connections: this.#streams.size,
      members,
    });
    return this.#snapshot;
  }
}
