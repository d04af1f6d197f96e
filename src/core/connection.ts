// One subscribed client over a Transport. Kept small: it is the only per-connection state the
// library holds. It knows no HTTP: bytes go through the transport it was given.
import { encodeRetry } from '../base/encoder.js';
import type { DisconnectReason, EncodedEvent, StreamIdentity } from '../base/types.js';
import type { EventFilter } from './filter.js';
import type { ConnectionOverload } from './overload.js';
import { ParkedEvents } from './parked.js';
import { SharedWrite, type Transport } from './transport.js';

export type { DisconnectReason };

export interface ConnectionOwner {
  /** Called exactly once when the connection is gone, whatever the cause. */
  released(conn: Connection, reason: DisconnectReason): void;
  /** Delivery accounting. */
  delivered(events: number, bytes: number): void;
}

/** Opening times count from here: a small integer per connection, not a boxed number. */
const CLOCK_BASE = Date.now();
/** Numbers the streams of the process (diagnostics' connectionId), across Events objects. */
let lastConnectionId = 0;

/** What a handler or the overload option adds to a stream; most streams have none of it. */
interface ConnectionExtras {
  readonly overload?: ConnectionOverload | undefined;
  readonly filter?: EventFilter | undefined;
  readonly notices?: boolean;
  readonly identity?: StreamIdentity | undefined;
  /** `?channelField=1`: its events carry their channel (core/channel-tag.ts). */
  readonly tagged?: boolean;
}

/** Shared by every stream without extras: one field per connection instead of four. */
const PLAIN: ConnectionExtras = Object.freeze({});

export class Connection {
  readonly channels: readonly string[];
  /** This stream's number in the process (diagnostics' `connectionId`). */
  readonly id = ++lastConnectionId;
  /** When it opened: ms after `CLOCK_BASE` (see `openedAt`). */
  readonly #openedAt = Date.now() - CLOCK_BASE;
  /** Identifies the channel set; connections with equal keys receive identical bytes. */
  readonly key: string;
  /** Last write time (ms), for keep-alive. */
  lastWriteAt = 0;
  /** Owned by the ChannelRegistry: marks the connection as already collected for the batch being fanned out. */
  batchMark = 0;
  /**
   * Owned by the ChannelRegistry: live events with a seq up to this were already written by the replay. A
   * shared bus can deliver an event after a new subscriber read it from the store (the bus lags
   * the store), so the ChannelRegistry drops those; the first later event clears it (a bus delivers in seq
   * order). 0: nothing to drop.
   */
  skipUpTo = 0;
  /**
   * Under `drop-oldest` or `conflate`: the client fell behind, so the hub parks its live events
   * (bounded) until its backlog is taken; then they are written at once.
   */
  overloaded = false;
  readonly #extras: ConnectionExtras;
  #parked: ParkedEvents | undefined;
  readonly #transport: Transport;
  readonly #maxBufferBytes: number;
  readonly #owner: ConnectionOwner;
  #open = true;
  /** While replaying: live events that arrived before the replay was written. */
  #deferred: EncodedEvent[] | undefined;
  #deferredBytes = 0;
  /** While replaying: drops a client that has not taken its replay in time. */
  #deadline: ReturnType<typeof setTimeout> | undefined;

  constructor(
    transport: Transport,
    channels: readonly string[],
    owner: ConnectionOwner,
    maxBufferBytes: number,
    extras: ConnectionExtras = PLAIN,
  ) {
    this.channels = channels;
    const { overload, filter, notices, identity, tagged } = extras;
    this.#extras = overload || filter || notices || identity || tagged ? extras : PLAIN;
    const key = channels.length === 1 ? channels[0]! : [...channels].sort().join(',');
    // A tab (control character) cannot be in a channel name: tagged streams share bytes only among themselves.
    this.key = tagged ? `\t${key}` : key;
    this.#transport = transport;
    this.#owner = owner;
    this.#maxBufferBytes = maxBufferBytes;
    transport.onClose(() => this.#release('client'));
  }

  get open(): boolean {
    return this.#open;
  }

  /** Who subscribed, for a stream opened with a verified token (expiry and revocation use it). */
  get identity(): StreamIdentity | undefined {
    return this.#extras.identity;
  }

  /** Only these events of its channels reach the client (the handler's `filter`). */
  get filter(): EventFilter | undefined {
    return this.#extras.filter;
  }

  /** Its events carry their channel (`?channelField=1`): the hub writes their tagged bytes. */
  get tagged(): boolean {
    return this.#extras.tagged === true;
  }

  /** Receives the namespace's notices on its channels (`presence-join`, `presence-leave`). */
  get notices(): boolean {
    return this.#extras.notices === true;
  }

  /** When the stream opened (ms since the epoch). */
  get openedAt(): number {
    return CLOCK_BASE + this.#openedAt;
  }

  /** True from `startReplay()` until the replay is written: live events are deferred meanwhile. */
  get replaying(): boolean {
    return this.#deferred !== undefined;
  }

  /**
   * Defer live events while the replay is read and written. A client that has not taken its
   * whole replay after `deadlineMs` is dropped as `slow`: it reconnects and resumes from the last
   * id it got, so progress is kept, while the server never waits on it for long.
   */
  startReplay(deadlineMs: number): void {
    this.#deferred = [];
    this.#deadline = setTimeout(() => this.#drop('slow'), deadlineMs);
    this.#deadline.unref?.();
  }

  /**
   * Keep a live event for after the replay. The bound applies to what was deferred before this
   * one, so one large event never counts against a client by itself.
   */
  defer(ev: EncodedEvent): void {
    if (!this.#open || this.#deferred === undefined) return;
    if (this.#deferredBytes > this.#maxBufferBytes) {
      this.#drop('slow');
      return;
    }
    this.#deferred.push(ev);
    this.#deferredBytes += ev.bytes.length;
  }

  /**
   * Write the replay pieces as the client takes them, then the deferred live events not covered
   * by the replay (seq above `coveredUpTo`), and switch to live delivery. A piece is only written
   * once the backlog is under half the bound, so the pieces are pulled from the store at the
   * pace of the client: a client that stops reading pins one piece, never the whole replay.
   */
  async replay(pieces: AsyncIterable<string>, coveredUpTo: number): Promise<void> {
    for await (const piece of pieces) {
      await this.#makeRoom();
      if (!this.#open) break; // leaving the loop closes the replay's store cursor
      this.#write(new SharedWrite(Buffer.from(piece), 0), Date.now());
    }
    this.#clearDeadline();
    while (this.#open && this.#deferred !== undefined) {
      const deferred = this.#deferred;
      this.#deferred = undefined;
      const parts: Buffer[] = [];
      let upTo = coveredUpTo;
      for (const ev of deferred) {
        if (ev.seq === undefined || ev.seq > upTo) {
          parts.push(ev.bytes);
          if (ev.seq !== undefined) upTo = ev.seq;
        }
      }
      this.skipUpTo = upTo;
      this.#deferredBytes = 0;
      if (parts.length > 0) this.send(new SharedWrite(Buffer.concat(parts), parts.length), Date.now());
    }
  }

  /** Wait until the backlog is at most half the bound (or the connection is gone). */
  async #makeRoom(limit = this.#maxBufferBytes / 2): Promise<void> {
    while (this.#open && this.#transport.bufferedBytes() > limit) {
      if (this.#transport.needsDrain()) await this.#transport.drained();
      // Below the transport's own high-water mark no drain comes (tiny bounds): look again soon.
      else await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  #clearDeadline(): void {
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  send(out: SharedWrite, now: number): void {
    if (!this.#open) return;
    // The bound is on the backlog: bytes of earlier writes the client has not taken yet. Checked
    // before adding this write, so a client that keeps up is never dropped for the size of one
    // write (a large event, a tick of many events); one that does not holds at most the bound
    // plus one write, and that write's buffer is shared with every other subscriber.
    const backlog = this.#transport.bufferedBytes();
    if (this.#extras.overload !== undefined && !this.overloaded && backlog > this.#maxBufferBytes / 2) {
      // Keeps the client: this write goes, later live events are parked until it catches up.
      // Half the bound for the backlog, half for what is parked: memory stays within the bound.
      this.#write(out, now);
      this.overloaded = true;
      void this.#catchUp();
      return;
    }
    if (backlog > this.#maxBufferBytes) {
      this.#drop('slow');
      return;
    }
    this.#write(out, now);
  }

  #write(out: SharedWrite, now: number): void {
    this.#transport.write(out);
    this.lastWriteAt = now;
    this.#owner.delivered(out.events, out.payload.length);
  }

  /** Hold a live event while `overloaded` (the hub parks instead of sending). */
  park(ev: EncodedEvent): void {
    if (!this.#open || this.#extras.overload === undefined) return;
    this.#parked ??= new ParkedEvents(this.#maxBufferBytes / 2, this.#extras.overload);
    this.#parked.add(ev);
  }

  /** Once the client took most of its backlog: what was parked, in one write, and live again. */
  async #catchUp(): Promise<void> {
    await this.#makeRoom(this.#maxBufferBytes / 4);
    this.overloaded = false;
    const parked = this.#parked?.take();
    if (!this.#open || parked === undefined) return;
    this.#write(new SharedWrite(parked.bytes, parked.events), Date.now());
  }

  /** Bytes waiting for this client: the transport's backlog plus live events deferred during a replay. */
  backlogBytes(): number {
    return this.#transport.bufferedBytes() + this.#deferredBytes + (this.#parked?.bytes ?? 0);
  }

  /** End the stream cleanly (server shutdown). */
  end(): void {
    if (!this.#open) return;
    this.#release('server');
    this.#transport.end();
  }

  /**
   * End the stream after a lone `retry:` (graceful drain): the client waits `retryMs` before
   * reconnecting, so clients drained together do not come back together.
   */
  endWithRetry(retryMs: number): void {
    if (!this.#open) return;
    this.#transport.write(new SharedWrite(Buffer.from(encodeRetry(retryMs)), 0));
    this.end();
  }

  /**
   * End the stream after `out` (a `stream-error` saying why: the token expired, access was
   * revoked; one `SharedWrite` serves every stream ended for the same reason, so it is encoded and
   * framed once), released with `reason`.
   */
  endWith(out: SharedWrite, reason: DisconnectReason): void {
    if (!this.#open) return;
    const transport = this.#transport;
    if (transport.endWith !== undefined) {
      this.#release(reason);
      transport.endWith(out);
      return;
    }
    transport.write(out);
    this.#release(reason);
    transport.end();
  }

  /** Cut the connection off at once (the client reconnects). */
  abort(): void {
    this.#drop('server');
  }

  // A client that cannot keep up is cut off rather than allowed to hold unbounded memory or
  // slow the others; it reconnects and (with history) resumes from its last id.
  #drop(reason: DisconnectReason): void {
    this.#release(reason);
    this.#transport.reset();
  }

  #release(reason: DisconnectReason): void {
    if (!this.#open) return;
    this.#open = false;
    this.#clearDeadline();
    this.#parked = undefined;
    this.#transport.detach();
    this.#owner.released(this, reason);
  }
}
