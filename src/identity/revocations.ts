// Revocations: `revoke({ sub } | { tokenId } | { channel })` (or several fields: all must match).
// Each is written to the shared state (so every process refuses matching reconnects, and a process
// that starts later or missed a message reads it) and sent on the `revoke` control topic (so every
// process closes its matching streams now). Every process keeps the live revocations in memory:
// a connect is checked without a round trip. A revocation lasts `ttlMs` (default a day, the longest
// accepted token lifetime): tokens issued before it have expired by then.
import { InvalidOptionError } from '../base/errors.js';
import { integerOption } from '../base/option-checks.js';
import type { StreamIdentity } from '../base/types.js';
import type { RunningEngine } from '../engine/running.js';

/** Which streams `revoke()` closes and refuses: every given field must match. */
export interface RevokeSelector {
  /** The token's `sub`. */
  readonly sub?: string;
  /** The token's `jti`. */
  readonly tokenId?: string;
  /** A channel (any stream subscribed to it, with a token or not). */
  readonly channel?: string;
}

/** Options of `revoke()`. */
export interface RevokeOptions {
  /** How long reconnects are refused, in ms (default and at most a day). */
  ttlMs?: number;
}

export const REVOKE_TOPIC = 'revoke';
const SCOPE = 'revoked';
const DAY_MS = 86_400_000;
const MAX_FIELD_LENGTH = 160;

/** A selector as its three fields (null: not part of it). */
export type Fields = readonly [sub: string | null, tokenId: string | null, channel: string | null];

/** Checks a selector given to `revoke()`/`unrevoke()`. */
export function fieldsOf(selector: unknown): Fields {
  if (selector === null || typeof selector !== 'object')
    throw new InvalidOptionError('selector', 'revoke() takes { sub }, { tokenId } or { channel }');
  const { sub, tokenId, channel, ...rest } = selector as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined)
    throw new InvalidOptionError('selector', `unknown selector field ${JSON.stringify(extra.slice(0, 40))}`);
  const fields = [field('sub', sub), field('tokenId', tokenId), field('channel', channel)] as const;
  if (fields.every((f) => f === null))
    throw new InvalidOptionError('selector', 'a revocation names at least one of sub, tokenId, channel');
  return fields;
}

function field(name: string, value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value === '' || value.length > MAX_FIELD_LENGTH)
    throw new InvalidOptionError(
      name,
      `${name} must be a non-empty string of at most ${MAX_FIELD_LENGTH} characters`,
    );
  return value;
}

/** A control message or state value read back: foreign data, checked field by field. */
function parseRecord(value: unknown): { fields: Fields; until: number; lift: boolean } | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { f, until, lift } = value as { f?: unknown; until?: unknown; lift?: unknown };
  if (!Array.isArray(f) || f.length !== 3 || typeof until !== 'number' || !Number.isFinite(until))
    return undefined;
  const ok = f.every(
    (x) => x === null || (typeof x === 'string' && x !== '' && x.length <= MAX_FIELD_LENGTH),
  );
  if (!ok || f.every((x) => x === null)) return undefined;
  return { fields: f as unknown as Fields, until, lift: lift === true };
}

const keyOf = (fields: Fields): string => JSON.stringify(fields);

export class Revocations {
  /** Live revocations: key → until (ms since the epoch). */
  readonly #until = new Map<string, number>();
  readonly #engine: RunningEngine;
  readonly #closeMatching: (fields: Fields) => void;
  #ready: Promise<void>;

  constructor(
    engine: RunningEngine,
    closeMatching: (fields: Fields) => void,
    report: (error: Error) => void,
  ) {
    this.#engine = engine;
    this.#closeMatching = closeMatching;
    engine.control.on(REVOKE_TOPIC, (payload) => {
      const record = parseRecord(payload);
      if (record !== undefined) this.#apply(record.fields, record.lift ? 0 : record.until);
    });
    const reload = (): Promise<void> =>
      this.#reload().catch((err: unknown) => report(err instanceof Error ? err : new Error(String(err))));
    engine.control.onResync(() => {
      this.#ready = reload();
    });
    this.#ready = reload();
  }

  /** Resolves with the selector's fields once every process was told. */
  async revoke(selector: RevokeSelector, options: RevokeOptions = {}): Promise<Fields> {
    const fields = fieldsOf(selector);
    const ttlMs = integerOption('ttlMs', options?.ttlMs, { min: 1, max: DAY_MS }, DAY_MS);
    const until = Date.now() + ttlMs;
    const record = { f: fields, until };
    await this.#engine.state.put(SCOPE, keyOf(fields), JSON.stringify(record), ttlMs);
    // The other processes are told first: closing this process's streams takes a while (a write
    // and an end per stream), and they close theirs meanwhile instead of after it.
    // (Its failure is held, not left unhandled across the wait, and rethrown after.)
    const sent = this.#engine.control.send(REVOKE_TOPIC, record).then(
      () => undefined,
      (err: unknown) => ({ err }),
    );
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#apply(fields, until);
    const failed = await sent;
    if (failed !== undefined) throw failed.err;
    return fields;
  }

  async unrevoke(selector: RevokeSelector): Promise<void> {
    const fields = fieldsOf(selector);
    await this.#engine.state.delete(SCOPE, keyOf(fields));
    this.#apply(fields, 0);
    await this.#engine.control.send(REVOKE_TOPIC, { f: fields, until: 0, lift: true });
  }

  /** Whether a stream of `identity` on `channels` is revoked (after the first read of the state). */
  async revoked(identity: StreamIdentity | undefined, channels: readonly string[]): Promise<boolean> {
    await this.#ready;
    if (this.#until.size === 0) return false;
    const now = Date.now();
    const subs = identity?.sub === undefined ? [null] : [null, identity.sub];
    const ids = identity?.tokenId === undefined ? [null] : [null, identity.tokenId];
    for (const sub of subs)
      for (const id of ids)
        for (const channel of [null, ...channels]) {
          if (sub === null && id === null && channel === null) continue;
          const key = keyOf([sub, id, channel]);
          const until = this.#until.get(key);
          if (until === undefined) continue;
          if (until > now) return true;
          this.#until.delete(key);
        }
    return false;
  }

  #apply(fields: Fields, until: number): void {
    const key = keyOf(fields);
    if (until <= Date.now()) {
      this.#until.delete(key);
      return;
    }
    this.#until.set(key, Math.max(until, this.#until.get(key) ?? 0));
    this.#closeMatching(fields);
  }

  // The state is the truth after an outage: revocations sent meanwhile close their streams now.
  async #reload(): Promise<void> {
    const entries = await this.#engine.state.entries(SCOPE);
    this.#until.clear();
    for (const [, value] of entries) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        continue;
      }
      const record = parseRecord(parsed);
      if (record !== undefined && !record.lift) this.#apply(record.fields, record.until);
    }
  }
}
