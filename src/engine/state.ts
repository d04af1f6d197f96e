// Shared state with expiry: the small facts features above the event log keep for every process
// of a namespace — presence members (refreshed by their process, gone when it dies), revoked
// subjects and token ids, a response stream's status. Entries are strings under a scope and a key
// and always expire: a crashed process's entries disappear by themselves, and nothing pins memory.
import { InvalidOptionError } from '../base/errors.js';

/**
 * Keyed values with a time to live, shared by every process of a namespace. Implementations:
 * `MemoryState` (this process only, the default), the Redis and Postgres engines'.
 */
export interface SharedState {
  /** Set `key` of `scope` to `value`, expiring `ttlMs` from now (set again to refresh). */
  put(scope: string, key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Compare-and-set: set `key` of `scope` to `value` (expiring `ttlMs` from now) only if its live
   * value is `expected` right now (`undefined`: no live entry), in one atomic step, so of two
   * processes racing from the same `expected` exactly one wins. Resolves whether it was set.
   */
  compareAndSet(
    scope: string,
    key: string,
    expected: string | undefined,
    value: string,
    ttlMs: number,
  ): Promise<boolean>;
  /** The live value of `key`, or undefined. */
  get(scope: string, key: string): Promise<string | undefined>;
  /** Remove `key`; resolves whether a live entry was there. */
  delete(scope: string, key: string): Promise<boolean>;
  /** The live entries of `scope` (at most `limit`, in no particular order). */
  entries(scope: string, limit?: number): Promise<Array<[key: string, value: string]>>;
  /** How many live entries `scope` has. */
  count(scope: string): Promise<number>;
  close(): Promise<void>;
}

/** Longest scope or key. */
export const MAX_STATE_NAME_LENGTH = 512;
/** Largest value. */
export const MAX_STATE_VALUE_BYTES = 64 * 1024;
/** Longest time to live: a day (entries are live facts, not storage). */
export const MAX_STATE_TTL_MS = 86_400_000;
/** Default and largest `limit` of `entries()`. */
export const MAX_STATE_ENTRIES = 100_000;

/** Checks the arguments of `put()` (every implementation calls it before any write). */
export function assertStateEntry(scope: string, key: string, value: string, ttlMs: number): void {
  assertStateName('scope', scope);
  assertStateName('key', key);
  if (typeof value !== 'string' || Buffer.byteLength(value) > MAX_STATE_VALUE_BYTES) {
    throw new InvalidOptionError(
      'value',
      `a state value must be a string of at most ${MAX_STATE_VALUE_BYTES} bytes`,
    );
  }
  if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_STATE_TTL_MS) {
    throw new InvalidOptionError(
      'ttlMs',
      `a state entry's ttlMs must be an integer from 1 to ${MAX_STATE_TTL_MS}`,
    );
  }
}

/** Checks compareAndSet()'s `expected` (every implementation calls it with assertStateEntry). */
export function assertExpected(expected: string | undefined): void {
  if (expected !== undefined && (typeof expected !== 'string' || !isStoredStateValue(expected))) {
    throw new InvalidOptionError(
      'expected',
      `compareAndSet()'s expected value must be undefined (no live entry) or a string of at most ${MAX_STATE_VALUE_BYTES} bytes`,
    );
  }
}

/** Checks a scope or key name. */
export function assertStateName(what: 'scope' | 'key', name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_STATE_NAME_LENGTH) {
    throw new InvalidOptionError(
      what,
      `a state ${what} must be a non-empty string of at most ${MAX_STATE_NAME_LENGTH} characters`,
    );
  }
}

/** A value read back from a shared store is ours only if put() could have written it. */
export function isStoredStateValue(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    (value.length <= MAX_STATE_VALUE_BYTES / 3 || Buffer.byteLength(value) <= MAX_STATE_VALUE_BYTES)
  );
}

/** A scope or key read back from a shared store is ours only if put() could have written it. */
export function isStoredStateName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name.length <= MAX_STATE_NAME_LENGTH;
}

/** Checks `entries()`' limit. */
export function stateLimit(limit: number | undefined): number {
  if (limit === undefined) return MAX_STATE_ENTRIES;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_STATE_ENTRIES) {
    throw new InvalidOptionError('limit', `limit must be an integer from 1 to ${MAX_STATE_ENTRIES}`);
  }
  return limit;
}

interface Entry {
  value: string;
  expiresAt: number;
}

/**
 * State in this process's memory. Expired entries are never returned and are swept as scopes are
 * written, so a scope whose entries all expired costs nothing after its next write or read.
 */
export class MemoryState implements SharedState {
  readonly #scopes = new Map<string, Map<string, Entry>>();

  put(scope: string, key: string, value: string, ttlMs: number): Promise<void> {
    assertStateEntry(scope, key, value, ttlMs);
    const now = Date.now();
    let entries = this.#scopes.get(scope);
    if (entries === undefined) {
      entries = new Map();
      this.#scopes.set(scope, entries);
    }
    // Re-inserting keeps the map in expiry order for equal ttls: sweeping stops at the first live.
    entries.delete(key);
    entries.set(key, { value, expiresAt: now + ttlMs });
    this.#sweep(scope, entries, now);
    return Promise.resolve();
  }

  compareAndSet(
    scope: string,
    key: string,
    expected: string | undefined,
    value: string,
    ttlMs: number,
  ): Promise<boolean> {
    assertStateEntry(scope, key, value, ttlMs);
    assertExpected(expected);
    const entry = this.#scopes.get(scope)?.get(key);
    const live = entry !== undefined && entry.expiresAt > Date.now() ? entry.value : undefined;
    if (live !== expected) return Promise.resolve(false);
    return this.put(scope, key, value, ttlMs).then(() => true);
  }

  get(scope: string, key: string): Promise<string | undefined> {
    assertStateName('scope', scope);
    assertStateName('key', key);
    const entry = this.#scopes.get(scope)?.get(key);
    return Promise.resolve(entry !== undefined && entry.expiresAt > Date.now() ? entry.value : undefined);
  }

  delete(scope: string, key: string): Promise<boolean> {
    assertStateName('scope', scope);
    assertStateName('key', key);
    const entries = this.#scopes.get(scope);
    const entry = entries?.get(key);
    if (entries === undefined || entry === undefined) return Promise.resolve(false);
    entries.delete(key);
    if (entries.size === 0) this.#scopes.delete(scope);
    return Promise.resolve(entry.expiresAt > Date.now());
  }

  entries(scope: string, limit?: number): Promise<Array<[key: string, value: string]>> {
    assertStateName('scope', scope);
    const max = stateLimit(limit);
    const entries = this.#live(scope);
    const out: Array<[string, string]> = [];
    for (const [key, entry] of entries) {
      if (out.length >= max) break;
      out.push([key, entry.value]);
    }
    return Promise.resolve(out);
  }

  count(scope: string): Promise<number> {
    assertStateName('scope', scope);
    return Promise.resolve(this.#live(scope).size);
  }

  close(): Promise<void> {
    this.#scopes.clear();
    return Promise.resolve();
  }

  #live(scope: string): Map<string, Entry> {
    const entries = this.#scopes.get(scope);
    if (entries === undefined) return new Map();
    const now = Date.now();
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key);
    if (entries.size === 0) this.#scopes.delete(scope);
    return entries;
  }

  // Entries are refreshed in place of their old position, so the oldest writes come first: drop
  // expired ones from the front until a live one (a longer ttl earlier may hide shorter ones
  // behind it until the next full read; they are never returned).
  #sweep(scope: string, entries: Map<string, Entry>, now: number): void {
    for (const [key, entry] of entries) {
      if (entry.expiresAt > now) break;
      entries.delete(key);
    }
    if (entries.size === 0) this.#scopes.delete(scope);
  }
}
