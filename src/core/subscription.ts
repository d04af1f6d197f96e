// The subscriber side: opening a stream for an accepted request over a Transport (stream-open,
// any replay after Last-Event-ID, then live events) and what the bus hands this process (batches
// to fan out, resets). The diagnostics of those steps (connect, disconnect, replay, reset, slow
// drop, deliver, read failures) are emitted here, once each; the bodies a GRIP proxy gets
// (grip/hold-bodies.ts) count through the same methods.

import { encodeStreamOpen, encodeStreamReset, encodeUnavailable } from '../base/encoder.js';
import { EventStoreError } from '../base/errors.js';
import type { EncodedEvent, StreamIdentity } from '../base/types.js';
import type { BusResetReason } from '../engine/bus.js';
import type { EventStore } from '../engine/store.js';
import type { ResetReason } from '../history/ids.js';
import { assertEpoch, formatId } from '../history/ids.js';
import { openResume } from '../history/resume.js';
import { Connection, type ConnectionOwner, type DisconnectReason } from './connection.js';
import { type DiagnosticsSource, diag, type ResetVia, type ResumeVia } from './diagnostics.js';
import { viewOf } from './event-view.js';
import { passes } from './filter.js';
import type { ChannelRegistry } from './hub.js';
import type { OverloadResolver } from './overload.js';
import {
  type ConnectionWatcher,
  type StreamExtras,
  type SubscriberWatch,
  type WatchedStream,
  withIdentity,
} from './stream-extras.js';
import { SharedWrite, type Transport } from './transport.js';

const UNAVAILABLE = 'Service Unavailable: the event history is unavailable';
/** A preamble that set the reconnection delay already (the handler's `retry` option). */
const RETRY = /^retry:/m;

/**
 * The delay sent with `stream-error` `unavailable` when the handler sets none: 1-3 s, drawn per
 * stream, so the clients of an outage do not all come back in the same instant.
 */
function unavailableRetry(): number {
  return 1000 + Math.floor(Math.random() * 2001);
}

/** What the subscriber side reports to its namespace. */
export interface SubscriptionHost {
  opened(): void;
  connected(channels: readonly string[], identity: StreamIdentity | undefined): void;
  disconnected(
    channels: readonly string[],
    reason: DisconnectReason,
    identity: StreamIdentity | undefined,
  ): void;
  delivered(events: number, bytes: number): void;
  replayed(events: number, resets: number): void;
  report(error: Error): void;
  /** Deliveries and bytes written to subscribers so far (the deliver diagnostics take differences). */
  deliveredSoFar(): { events: number; bytes: number };
  /** When the earliest batch this process published among `batch`'s events started (performance.now()). */
  publishedAt(batch: readonly EncodedEvent[]): number | undefined;
}

export class Subscriptions {
  /**
   * Peer addresses, only of streams opened while the connect or disconnect messages had
   * subscribers: reading one makes node:http cache a peer object on every socket.
   */
  readonly #addresses = new WeakMap<Connection, string>();
  #connectionWatcher: ConnectionWatcher | undefined;
  readonly #hub: ChannelRegistry;
  readonly #store: EventStore | undefined;
  readonly #host: SubscriptionHost;
  readonly #maxBufferBytes: number;
  readonly #replayTimeoutMs: number;
  readonly #overload: OverloadResolver;
  /** Set by a feature (presence) that follows streams. */
  watch: SubscriberWatch | undefined;
  readonly #watched = new Map<Connection, WatchedStream>();
  readonly #processKey = crypto.randomUUID().slice(0, 13);
  #streams = 0;
  readonly #owner: ConnectionOwner;
  /** Names the namespace in diagnostics messages. */
  readonly #source: DiagnosticsSource;

  constructor(
    hub: ChannelRegistry,
    store: EventStore | undefined,
    host: SubscriptionHost,
    limits: { maxBufferBytes: number; replayTimeoutMs: number; overload: OverloadResolver },
    source: DiagnosticsSource,
  ) {
    this.#hub = hub;
    this.#source = source;
    this.#store = store;
    this.#host = host;
    this.#maxBufferBytes = limits.maxBufferBytes;
    this.#replayTimeoutMs = limits.replayTimeoutMs;
    this.#overload = limits.overload;
    this.#owner = {
      released: (conn, reason) => {
        hub.remove(conn);
        const watched = this.#watched.get(conn);
        if (watched !== undefined) {
          this.#watched.delete(conn);
          this.watch?.closed(watched);
        }
        this.#connectionWatcher?.released(conn);
        if (reason === 'slow' && diag.slowDrop.hasSubscribers)
          diag.slowDrop.publish({
            ...source,
            channels: conn.channels,
            bufferedBytes: conn.backlogBytes(),
            maxBufferBytes: limits.maxBufferBytes,
          });
        if (diag.disconnect.hasSubscribers)
          diag.disconnect.publish({
            ...source,
            channels: conn.channels,
            reason,
            connectionId: conn.id,
            remoteAddress: this.#addresses.get(conn),
            durationMs: Date.now() - conn.openedAt,
            ...withIdentity(conn.identity),
          });
        host.disconnected(conn.channels, reason, conn.identity);
      },
      delivered: (events, bytes) => host.delivered(events, bytes),
    };
  }

  /** The one watcher of opened and released streams (expiry and revocation). */
  watchConnections(watcher: ConnectionWatcher): void {
    this.#connectionWatcher = watcher;
  }

  /**
   * Subscribe a transport whose response head was sent: `preamble`, `stream-open`, replay, live.
   * With a `filter`, only the events it matches are replayed and delivered.
   */
  open(
    transport: Transport,
    channels: readonly string[],
    preamble: string,
    lastEventId: string | undefined,
    extras: StreamExtras = {},
    addressOf?: () => string | undefined,
  ): void {
    const { filter, member, identity } = extras;
    const tagged = extras.tagged === true;
    // The connection's list, handed to every message and listener about it: read-only for real,
    // or a subscriber that popped it would leave the hub listing a channel after the client left.
    channels = frozen(channels);
    const conn = new Connection(transport, channels, this.#owner, this.#maxBufferBytes, {
      overload: this.#overload(channels),
      filter,
      notices: member?.events === true,
      identity,
      tagged,
    });
    const opened = (): void => {
      if (this.watch === undefined || !conn.open) return;
      const stream = { key: `${this.#processKey}-${++this.#streams}`, channels, member };
      this.#watched.set(conn, stream);
      this.watch.opened(stream);
    };
    const remoteAddress =
      diag.connect.hasSubscribers || diag.disconnect.hasSubscribers ? addressOf?.() : undefined;
    if (remoteAddress !== undefined) this.#addresses.set(conn, remoteAddress);
    this.#host.opened();
    const connected = (): void => {
      this.#connectionWatcher?.opened(conn);
      this.#host.connected(channels, identity);
      if (diag.connect.hasSubscribers)
        diag.connect.publish({
          ...this.#source,
          channels,
          connectionId: conn.id,
          remoteAddress,
          ...withIdentity(identity),
        });
    };
    const store = this.#store;
    if (store === undefined) {
      this.#hub.add(conn);
      // The initial bytes are not an event delivery.
      conn.send(new SharedWrite(Buffer.from(preamble + encodeStreamOpen(undefined)), 0), Date.now());
      if (conn.open) connected();
      opened();
      return;
    }
    // Subscribe first and defer live events, then read the history: whatever is published
    // meanwhile is either in the replay or deferred, and the seq check drops the overlap. A
    // shared bus says when it delivers everything on a new channel: the read waits for that.
    conn.startReplay(this.#replayTimeoutMs);
    const subscribed = this.#hub.add(conn);
    connected();
    opened();
    const failed = (cause: unknown): void => {
      this.#host.report(cause instanceof EventStoreError ? cause : this.readFailed(cause));
      // Without a position the client cannot be served safely: it is told so and reconnects later.
      if (!conn.open) return;
      const head = conn.lastWriteAt === 0 ? preamble : '';
      const text =
        head + encodeUnavailable(UNAVAILABLE, RETRY.test(preamble) ? undefined : unavailableRetry());
      conn.send(new SharedWrite(Buffer.from(text), 0), Date.now());
      conn.end();
    };
    let reset = false;
    const resume = () =>
      openResume(store, channels, lastEventId, {
        preamble,
        pageBytes: this.#maxBufferBytes,
        onReset: (lost, reason) => {
          reset = true;
          this.countReset(lost, reason, 'stream');
        },
        keep: filter && ((channel, text) => passes(filter, viewOf(channel, text))),
        tagged,
      });
    (subscribed === undefined ? resume() : subscribed.then(resume)).then((plan) => {
      if (!conn.open) {
        void plan.pieces.return();
        return;
      }
      this.countReplay(plan.replayed, channels, lastEventId, 'stream', reset);
      return conn.replay(plan.pieces, plan.coveredUpTo).catch(failed);
    }, failed);
  }

  /** A history read failed: the typed error to report, counted in the `storeError` diagnostics. */
  readFailed(cause: unknown): EventStoreError {
    const error = new EventStoreError({ cause });
    if (diag.storeError.hasSubscribers)
      diag.storeError.publish({ ...this.#source, operation: 'read', error });
    return error;
  }

  /** Events replayed after a Last-Event-ID (a direct stream's or a GRIP hold's), counted. */
  countReplay(
    events: number,
    channels: readonly string[],
    lastEventId: string | undefined,
    via: ResumeVia,
    reset: boolean,
  ): void {
    this.#host.replayed(events, 0);
    if (lastEventId !== undefined && diag.replay.hasSubscribers)
      diag.replay.publish({ ...this.#source, channels, lastEventId, events, via, reset });
  }

  /** A `stream-reset` sent (by a resume, a hold's body or the bus), counted. */
  countReset(channels: readonly string[], reason: ResetReason, via: ResetVia): void {
    this.#host.replayed(0, 1);
    if (diag.reset.hasSubscribers)
      diag.reset.publish({ ...this.#source, channels: frozen(channels), reason, via });
  }

  /**
   * The bus delivers a batch (published here or, with a shared bus, in any process): fan it out
   * to this process's subscribers. Every delivery path ends here, so `deliver` is emitted here.
   */
  deliver(batch: readonly EncodedEvent[]): void {
    if (!diag.deliver.hasSubscribers) {
      this.#hub.deliver(batch);
      return;
    }
    const before = this.#host.deliveredSoFar();
    this.#hub.deliver(batch);
    const after = this.#host.deliveredSoFar();
    const startedAt = this.#host.publishedAt(batch);
    diag.deliver.publish({
      ...this.#source,
      events: batch.length,
      deliveries: after.events - before.events,
      bytes: after.bytes - before.bytes,
      ...(startedAt !== undefined && { durationMs: performance.now() - startedAt }),
    });
  }

  /** A bus lost events on `channels`: their subscribers get a `stream-reset` to `at`, each counted. */
  reset(channels: readonly string[], reason: BusResetReason, at: { epoch: string; head: number }): void {
    assertEpoch(at.epoch);
    const id = formatId(at.epoch, at.head);
    this.#hub.reset(
      channels,
      (own): EncodedEvent => {
        this.countReset(own, reason, 'bus');
        const text = encodeStreamReset(id, own, reason);
        return { channel: own[0]!, id, seq: at.head, event: 'stream-reset', text, bytes: Buffer.from(text) };
      },
      reason === 'unknown-id',
    );
  }
}

/** `list` as a frozen array: itself when it already is one, else a frozen copy. */
export function frozen(list: readonly string[]): readonly string[] {
  return Object.isFrozen(list) ? list : Object.freeze([...list]);
}
