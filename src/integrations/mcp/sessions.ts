// The shared MCP session registry: what a process needs to serve a session another process
// initialized (the SDK's transport answers `404 Session not found` to any session it did not
// initialize itself), kept in the engine's shared state. Each record names the process serving
// the session; each process keeps a short lease alive while it runs. Another process adopts a
// session only once that lease is gone (the owner died or closed): the transport keeps a
// request's stream in its own memory and writes new events there only, so two live processes
// serving one session would each miss the other's events. Sticky routing while the owner lives,
// failover when it dies.
import { randomUUID } from 'node:crypto';
import { Events, type SharedState } from 'express-eventstream';
import { type PackageInternals, packageInternals } from '../../compose/internal-key.js';
import { McpResumeError } from './errors.js';
import { assertPrefix, assertSessionId } from './records.js';

/** What an MCP client sent in `initialize` (its params): replayed to adopt the session elsewhere. */
export interface McpSessionRecord {
  readonly protocolVersion: string;
  readonly capabilities: { readonly [key: string]: unknown };
  readonly clientInfo: { readonly name: string; readonly version: string; readonly [key: string]: unknown };
}

/** Options of `mcpSessions()`. */
export interface McpSessionsOptions {
  /** State scopes `<prefix>-sessions` and `<prefix>-processes`. Default `mcp`. */
  readonly prefix?: string;
  /** How long a session record lives after its last `save()` or `touch()`. Default 1 hour. */
  readonly sessionTtlMs?: number;
  /** How long a process's lease outlives it (refreshed every third of it). Default 10 s. */
  readonly leaseMs?: number;
}

interface StoredSession extends McpSessionRecord {
  readonly owner: string;
}

const MAX_RECORD_BYTES = 32 * 1024;

/** The registry of one namespace's MCP sessions; create one per process with `mcpSessions()`. */
export class McpSessions {
  /** This process's id in the records it owns. */
  readonly processId: string = randomUUID();
  readonly #state: SharedState;
  readonly #sessions: string;
  readonly #processes: string;
  readonly #sessionTtlMs: number;
  readonly #leaseMs: number;
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  /** @internal */
  constructor(state: SharedState, prefix: string, sessionTtlMs: number, leaseMs: number) {
    this.#state = state;
    this.#sessions = `${prefix}-sessions`;
    this.#processes = `${prefix}-processes`;
    this.#sessionTtlMs = sessionTtlMs;
    this.#leaseMs = leaseMs;
    this.#timer = setInterval(() => void this.#renew(), Math.max(1, Math.floor(leaseMs / 3)));
    this.#timer.unref();
  }

  /** Takes the lease now; `save()` and `adopt()` wait for it. */
  readonly ready: Promise<void> = Promise.resolve().then(() => this.#renew());

  /**
   * Records `session` as initialized by this process with the client's `initialize` params
   * (call it from the transport's `onsessioninitialized`). Resolves once the registry holds it.
   */
  async save(session: string, record: McpSessionRecord): Promise<void> {
    assertSessionId(session);
    checkRecord(record, session);
    await this.ready;
    await this.#write(session, { ...pick(record), owner: this.processId });
  }

  /** Keeps a live session's record from expiring (its owner calls it on activity). */
  async touch(session: string): Promise<void> {
    const stored = await this.#read(session);
    if (stored !== undefined && stored.owner === this.processId) await this.#write(session, stored);
  }

  /**
   * Makes this process the session's owner and resolves with its `initialize` params, so a
   * transport can be set up for it (`adoptSession()`). Rejects with `McpResumeError`:
   * `unknown-session` (never saved, deleted or expired: the client must initialize again, as
   * after a `404`), or `session-owned` while another process's lease is live.
   */
  async adopt(session: string): Promise<McpSessionRecord> {
    assertSessionId(session);
    await this.ready;
    const read = await this.#readText(session);
    if (read === undefined)
      throw new McpResumeError('unknown-session', 'no such MCP session in the registry', session);
    const { text, stored } = read;
    if (
      stored.owner !== this.processId &&
      (await this.#state.get(this.#processes, stored.owner)) !== undefined
    ) {
      throw new McpResumeError(
        'session-owned',
        'the MCP session is served by another live process: route its requests there (sticky sessions)',
        session,
      );
    }
    const record = pick(stored);
    if (stored.owner === this.processId) {
      await this.#write(session, stored);
      return record;
    }
    // Compare-and-set from the record read: of processes adopting the same dead owner's session
    // at once, exactly one replaces it; the others find it changed and are refused.
    const won = await this.#state.compareAndSet(
      this.#sessions,
      session,
      text,
      JSON.stringify({ ...record, owner: this.processId }),
      this.#sessionTtlMs,
    );
    if (!won) {
      throw new McpResumeError(
        'session-owned',
        'another process adopted the MCP session at the same time: route its requests there (sticky sessions)',
        session,
      );
    }
    return record;
  }

  /** Forgets the session (the client deleted it). */
  async delete(session: string): Promise<void> {
    assertSessionId(session);
    await this.#state.delete(this.#sessions, session);
  }

  /** Stops renewing this process's lease and gives it up, so others can adopt its sessions at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#state.delete(this.#processes, this.processId).catch(() => false);
  }

  async #renew(): Promise<void> {
    if (this.#closed) return;
    // A failed renewal is retried by the next tick; the lease outlives two of them.
    await this.#state.put(this.#processes, this.processId, '1', this.#leaseMs).catch(() => undefined);
  }

  async #write(session: string, stored: StoredSession): Promise<void> {
    await this.#state.put(this.#sessions, session, JSON.stringify(stored), this.#sessionTtlMs);
  }

  async #read(session: string): Promise<StoredSession | undefined> {
    return (await this.#readText(session))?.stored;
  }

  async #readText(session: string): Promise<{ text: string; stored: StoredSession } | undefined> {
    const text = await this.#state.get(this.#sessions, session);
    if (text === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    const owner = (value as { owner?: unknown } | undefined)?.owner;
    if (typeof owner !== 'string' || owner.length === 0 || owner.length > 64) {
      throw new McpResumeError(
        'foreign-record',
        'the session registry holds a record this library did not write',
        session,
      );
    }
    checkRecord(value as McpSessionRecord, session);
    return { text, stored: value as StoredSession };
  }
}

function pick(record: McpSessionRecord): McpSessionRecord {
  return {
    protocolVersion: record.protocolVersion,
    capabilities: record.capabilities,
    clientInfo: record.clientInfo,
  };
}

function checkRecord(record: McpSessionRecord, session: string): void {
  const ok =
    record !== null &&
    typeof record === 'object' &&
    typeof record.protocolVersion === 'string' &&
    /^[0-9A-Za-z.-]{1,32}$/.test(record.protocolVersion) &&
    isObject(record.capabilities) &&
    isObject(record.clientInfo) &&
    typeof record.clientInfo.name === 'string' &&
    typeof record.clientInfo.version === 'string' &&
    Buffer.byteLength(JSON.stringify(pick(record))) <= MAX_RECORD_BYTES;
  if (!ok) {
    throw new McpResumeError(
      'invalid-argument',
      `a session record is the initialize params: protocolVersion, capabilities, clientInfo { name, version }, at most ${MAX_RECORD_BYTES} bytes`,
      session,
    );
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The MCP session registry over `events`' shared state (the engine's: Redis, Postgres, or this process's memory). */
export function mcpSessions(events: Events, options: McpSessionsOptions = {}): McpSessions {
  const checks: PackageInternals['checks'] = packageInternals(Events).checks;
  checks.assertObject(options, 'options', 'mcpSessions() options');
  checks.assertKnownKeys(options, ['prefix', 'sessionTtlMs', 'leaseMs']);
  const prefix = options.prefix ?? 'mcp';
  assertPrefix(prefix);
  const sessionTtlMs = checks.durationOption('sessionTtlMs', options.sessionTtlMs, 3_600_000, {
    min: 1_000,
    max: 86_400_000,
  });
  const leaseMs = checks.durationOption('leaseMs', options.leaseMs, 10_000, { min: 300, max: 600_000 });
  const engine = packageInternals(Events).engineOf(events);
  if (engine === undefined) {
    throw new McpResumeError(
      'invalid-argument',
      'mcpSessions() needs the Events object of express-eventstream',
    );
  }
  return new McpSessions(engine.state, prefix, sessionTtlMs, leaseMs);
}
