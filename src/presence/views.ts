// This process's views of the presence channels it serves or was asked about: streams added and
// removed (its own, at once; the others', from their messages), the shared state's picture merged
// in on a reload, the streams of processes whose lease ran out removed, and a join or leave notice
// for each member change once a view has been read.
import type { EncodedEvent } from '../base/types.js';
import { Leases } from './leases.js';
import { decodeMember } from './members.js';
import { noticeOf, type PresenceMessage } from './messages.js';
import { ChannelView, type ViewStream } from './view.js';

/** Where notices go: the hub's streams on `channel` that asked for them. */
export type Notify = (channel: string, ev: EncodedEvent) => void;

export class PresenceViews {
  readonly #views = new Map<string, ChannelView>();
  readonly #leases: Leases;
  readonly #self: string;
  readonly #ttlMs: number;
  readonly #notify: Notify;

  constructor(self: string, ttlMs: number, notify: Notify) {
    this.#self = self;
    this.#ttlMs = ttlMs;
    this.#leases = new Leases(ttlMs);
    this.#notify = notify;
  }

  get(channel: string): ChannelView | undefined {
    return this.#views.get(channel);
  }

  create(channel: string): ChannelView {
    const view = new ChannelView();
    this.#views.set(channel, view);
    return view;
  }

  all(): IterableIterator<[string, ChannelView]> {
    return this.#views.entries();
  }

  add(channel: string, key: string, stream: ViewStream): void {
    const view = this.#views.get(channel);
    if (view === undefined) return;
    if (view.loading !== undefined) {
      view.openedDuringLoad.add(key);
      view.closedDuringLoad.delete(key);
    }
    if (stream.owner !== this.#self) this.#leases.attach(stream.owner, channel, key);
    if (view.add(key, stream) && view.loaded)
      this.#notify(channel, noticeOf(channel, 'join', stream.member, stream.info));
  }

  remove(channel: string, key: string): void {
    const view = this.#views.get(channel);
    if (view === undefined) return;
    if (view.loading !== undefined) {
      view.closedDuringLoad.add(key);
      view.openedDuringLoad.delete(key);
    }
    const gone = view.remove(key);
    if (gone === undefined) return;
    if (gone.owner !== this.#self) this.#leases.detach(gone.owner, channel, key);
    if (gone.left && view.loaded) this.#notify(channel, noticeOf(channel, 'leave', gone.member));
  }

  /** Another process's message; true when it comes from a process declared dead (reload). */
  receive(message: PresenceMessage, now: number): boolean {
    if (message.p === this.#self) return false;
    const revived = this.#leases.heard(message.p, now);
    switch (message.k) {
      case 'open':
        this.add(message.c, message.s, { member: message.m, info: message.i, owner: message.p });
        break;
      case 'close':
        this.remove(message.c, message.s);
        break;
      case 'bye':
        for (const [channel, key] of this.#leases.gone(message.p, now)) this.remove(channel, key);
        break;
    }
    return revived;
  }

  /**
   * A read of the channel's state entries: the other processes' streams become what the state
   * says, except those opened or closed by a message since the read began (the newer word).
   */
  merge(channel: string, view: ChannelView, entries: ReadonlyArray<readonly [string, string]>): void {
    if (this.#views.get(channel) !== view) return;
    const now = Date.now();
    const found = new Set<string>();
    for (const [key, text] of entries) {
      if (view.closedDuringLoad.has(key)) continue;
      const member = decodeMember(text);
      if (member === undefined || member.owner === this.#self || this.#leases.isDead(member.owner)) continue;
      found.add(key);
      if (view.has(key)) continue;
      this.#leases.found(member.owner, now);
      this.add(channel, key, { member: member.id, info: member.info, owner: member.owner });
    }
    const stale: string[] = [];
    for (const [key, stream] of view.streams())
      if (stream.owner !== this.#self && !found.has(key) && !view.openedDuringLoad.has(key)) stale.push(key);
    for (const key of stale) this.remove(channel, key);
    view.loaded = true;
    view.loadedAt = now;
    view.openedDuringLoad.clear();
    view.closedDuringLoad.clear();
  }

  /**
   * Removes the streams of processes silent for a ttl and the views nobody needs (no stream here,
   * no query for a ttl); returns the views due for a reconciling read.
   */
  sweep(now: number): Array<[string, ChannelView]> {
    for (const [channel, key] of this.#leases.sweep(now)) this.remove(channel, key);
    const due: Array<[string, ChannelView]> = [];
    for (const [channel, view] of this.#views) {
      if (view.loading !== undefined) continue;
      if (view.localStreams <= 0 && now - view.lastQueriedAt > this.#ttlMs) this.#drop(channel, view);
      else if (now - view.loadedAt >= (view.loaded ? this.#ttlMs : this.#ttlMs / 3))
        due.push([channel, view]);
    }
    return due;
  }

  #drop(channel: string, view: ChannelView): void {
    this.#views.delete(channel);
    for (const [key, stream] of view.streams())
      if (stream.owner !== this.#self) this.#leases.detach(stream.owner, channel, key);
  }
}
