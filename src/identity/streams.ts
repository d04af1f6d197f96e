// Identity in a stream's life: which open streams belong to which subject and token (so a
// revocation finds them without a scan), their expiry (one heap, one timer), and the check a new
// stream passes after its token was verified (its channels granted, nothing revoked).

import { encodeStreamEnd, encodeStreamError } from '../base/encoder.js';
import type { StreamIdentity } from '../base/types.js';
import type { Connection } from '../core/connection.js';
import type { ConnectionWatcher } from '../core/stream-extras.js';
import { SharedWrite } from '../core/transport.js';
import type { RunningEngine } from '../engine/running.js';
import { expirySecond, type HeldSelector } from '../grip/held-streams.js';
import { ExpiryHeap } from './expiry.js';
import { firstDenied } from './patterns.js';
import { type Fields, Revocations, type RevokeOptions, type RevokeSelector } from './revocations.js';
import { grantsOfIdentity } from './tokens.js';

/** Why a stream that passed its token check is still refused. */
export type AccessRefusal = { readonly condition: 'forbidden' | 'revoked'; readonly text: string };

const EXPIRED = encodeStreamEnd('token-expired', 'the subscriber token expired', undefined);
const REVOKED = encodeStreamError('revoked', 'access to this stream was revoked', undefined);
const EXPIRED_BYTES = Buffer.from(EXPIRED);
const REVOKED_BYTES = Buffer.from(REVOKED);

/** Where streams a proxy holds are ended (the GRIP plug-in). */
export interface HeldStreams {
  closeHeld(selector: HeldSelector, text: string): Promise<void>;
}

export class IdentityStreams implements ConnectionWatcher {
  /** The namespace's streams (a revocation by channel alone looks at all of them). */
  readonly #hub: { connections(): Iterable<Connection> };
  readonly #bySub = new Map<string, Set<Connection>>();
  readonly #byTokenId = new Map<string, Set<Connection>>();
  readonly #expiry = new ExpiryHeap<Connection>((conn) =>
    conn.endWith(new SharedWrite(EXPIRED_BYTES, 0), 'token-expired'),
  );
  /** Expiry seconds of tokens whose streams a proxy holds: each is ended there once it passed. */
  readonly #heldExpiry: ExpiryHeap<number>;
  readonly #revocations: Revocations;
  readonly #held: HeldStreams;

  constructor(
    engine: RunningEngine,
    held: HeldStreams,
    hub: { connections(): Iterable<Connection> },
    report: (error: Error) => void,
  ) {
    this.#held = held;
    this.#hub = hub;
    this.#revocations = new Revocations(engine, (fields) => this.#closeMatching(fields), report);
    this.#heldExpiry = new ExpiryHeap<number>((expiresSec) => {
      held.closeHeld({ expiresSec }, EXPIRED).catch(report);
    });
  }

  /** A proxy holds a stream with `identity`: it is ended there when the token expires. */
  held(identity: StreamIdentity): void {
    const second = expirySecond(identity.expiresAt);
    this.#heldExpiry.add(second, second * 1000);
  }

  // Only streams with an identity are indexed: the others cost nothing here.
  opened(conn: Connection): void {
    const identity = conn.identity;
    if (identity === undefined) return;
    if (identity.sub !== undefined) addTo(this.#bySub, identity.sub, conn);
    if (identity.tokenId !== undefined) addTo(this.#byTokenId, identity.tokenId, conn);
    this.#expiry.add(conn, identity.expiresAt);
  }

  released(conn: Connection): void {
    const identity = conn.identity;
    if (identity === undefined) return;
    if (identity.sub !== undefined) removeFrom(this.#bySub, identity.sub, conn);
    if (identity.tokenId !== undefined) removeFrom(this.#byTokenId, identity.tokenId, conn);
    this.#expiry.remove(conn);
  }

  /**
   * The refusal of a stream on `channels` for `identity` (none when it may open); `granted`: its
   * claims were checked when it opened (a proxy's recovery), only revocations are.
   */
  async admit(
    identity: StreamIdentity | undefined,
    channels: readonly string[],
    options?: { readonly granted?: boolean },
  ): Promise<AccessRefusal | undefined> {
    if (identity !== undefined && options?.granted !== true) {
      const denied = firstDenied(grantsOfIdentity(identity), channels);
      if (denied !== undefined)
        return {
          condition: 'forbidden',
          text: `Forbidden: the token does not grant channel ${JSON.stringify(denied.slice(0, 200))}`,
        };
    }
    if (await this.#revocations.revoked(identity, channels))
      return { condition: 'revoked', text: 'Forbidden: access to this stream was revoked' };
    return undefined;
  }

  /** Every process closes its own streams; the proxies' are closed once, from here. */
  async revoke(selector: RevokeSelector, options?: RevokeOptions): Promise<void> {
    const [sub, tokenId, channel] = await this.#revocations.revoke(selector, options);
    await this.#held.closeHeld({ sub, tokenId, channel }, REVOKED);
  }

  unrevoke(selector: RevokeSelector): Promise<void> {
    return this.#revocations.unrevoke(selector);
  }

  /** The namespace closed: no expiry timer left behind. */
  stop(): void {
    this.#expiry.clear();
    this.#heldExpiry.clear();
  }

  #closeMatching([sub, tokenId, channel]: Fields): void {
    const pool =
      sub !== null
        ? this.#bySub.get(sub)
        : tokenId !== null
          ? this.#byTokenId.get(tokenId)
          : this.#hub.connections();
    if (pool === undefined) return;
    // One write for every stream this revocation ends: encoded and framed once.
    const out = new SharedWrite(REVOKED_BYTES, 0);
    for (const conn of [...pool]) {
      const identity = conn.identity;
      if (sub !== null && identity?.sub !== sub) continue;
      if (tokenId !== null && identity?.tokenId !== tokenId) continue;
      if (channel !== null && !conn.channels.includes(channel)) continue;
      conn.endWith(out, 'revoked');
    }
  }
}

function addTo(index: Map<string, Set<Connection>>, key: string, conn: Connection): void {
  let set = index.get(key);
  if (set === undefined) {
    set = new Set();
    index.set(key, set);
  }
  set.add(conn);
}

function removeFrom(index: Map<string, Set<Connection>>, key: string, conn: Connection): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(conn);
  if (set.size === 0) index.delete(key);
}
