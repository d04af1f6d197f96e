// Running the store's scripts: EVALSHA with a fallback to EVAL, the typed errors of a failure,
// and the append's retry until Redis says what happened (so a publish settles truthfully).
import { createHash } from 'node:crypto';
import { type AppendOutcomeKind, RedisDataError, RedisUnavailableError } from './errors.js';
import type { RedisClient } from './link.js';

export interface Script {
  readonly lua: string;
  readonly sha: string;
}

export function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** `EESDATA <key>: <what>`, as the scripts fail on foreign data (Redis may append script info). */
const DATA_REPLY = /^EESDATA (.+?): (.+?)(?: script: .*)?$/s;

/** How often the offset between this clock and Redis' is measured again (for append deadlines). */
const CLOCK_REFRESH_MS = 60_000;

/** An error Redis answered with: the command reached it and did not run, or ran only its checks. */
function isReply(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ReplyError';
}

/** Per client, the scripts whose EVAL (loading them) is in flight. */
const loading = new WeakMap<object, Map<string, Promise<unknown>>>();

/**
 * EVALSHA, loading the script with EVAL when this server does not know it yet. A burst of first
 * uses (1,000 streams opening at once) all get NOSCRIPT: one of them loads the script, the others
 * wait for that and run EVALSHA again, instead of each sending (and Redis compiling) the script.
 */
export async function runScript(
  client: RedisClient,
  s: Script,
  keys: string[],
  args: string[],
): Promise<unknown> {
  try {
    return await client.evalsha(s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!isNoScript(err)) throw err;
  }
  let scripts = loading.get(client);
  if (scripts === undefined) {
    scripts = new Map();
    loading.set(client, scripts);
  }
  const load = scripts.get(s.sha);
  if (load !== undefined) {
    await load.catch(() => undefined);
    try {
      return await client.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // Another node of a cluster, or a SCRIPT FLUSH meanwhile: load it here.
      if (!isNoScript(err)) throw err;
    }
  }
  const run = client.eval(s.lua, keys.length, ...keys, ...args);
  scripts.set(s.sha, run);
  try {
    return await run;
  } finally {
    if (scripts.get(s.sha) === run) scripts.delete(s.sha);
  }
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/** Where failures are reported from: the endpoint, and the connection's error while it is down. */
export interface FailureContext {
  readonly endpoint: string;
  /** The connection's own error, a better cause than the command that gave up because of it. */
  readonly cause?: Error | undefined;
  readonly outcome?: AppendOutcomeKind;
}

/** The typed error for a failed script: foreign data in a key, or Redis failing the command. */
export function typedError(operation: string, err: unknown, context: FailureContext): Error {
  const data = isReply(err) ? DATA_REPLY.exec(err.message) : null;
  if (data != null) return new RedisDataError(operation, data[1]!, data[2]!);
  const cause = isReply(err) ? err : (context.cause ?? err);
  return new RedisUnavailableError(operation, {
    cause,
    endpoint: context.endpoint,
    outcome: context.outcome,
  });
}

/**
 * Runs the append script until Redis answers (stored, or refused before writing), or `giveUpAt`
 * (ms, this clock) passes. Without an answer (connection lost, timeout) the script may have run:
 * the request carries its token, so sending it again returns the first run's reply.
 */
export async function settleAppend(
  client: RedisClient,
  s: Script,
  keys: string[],
  args: string[],
  giveUpAt: number,
  context: {
    readonly endpoint: string;
    closed(): boolean;
    failure(): Error | undefined;
    /** Settles once the appends called before this one settled: a retry must not overtake them. */
    readonly before: Promise<unknown>;
  },
): Promise<unknown> {
  let waitMs = 25;
  for (;;) {
    try {
      return await withinTime(runScript(client, s, keys, args), giveUpAt);
    } catch (err) {
      const { endpoint } = context;
      if (isReply(err)) throw typedError('append', err, { endpoint, outcome: 'not-stored' });
      if (context.closed() || Date.now() >= giveUpAt) {
        throw typedError('append', err, { endpoint, cause: context.failure(), outcome: 'unknown' });
      }
      // The first attempt went out behind the earlier appends on the connection; a retry is sent
      // only once they settled, so it cannot be stored before them.
      await context.before;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      waitMs = Math.min(2 * waitMs, 500);
    }
  }
}

/**
 * `attempt`, or a timeout error at `giveUpAt`: past the deadline, a request still queued in the
 * client can only be refused by Redis, so it is left behind (its failure is ignored).
 */
function withinTime<T>(attempt: Promise<T>, giveUpAt: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no answer from Redis')), Math.max(0, giveUpAt - Date.now()));
  });
  attempt.catch(() => undefined);
  return Promise.race([attempt, late]).finally(() => clearTimeout(timer));
}

/** The offset between Redis' clock and this one, for deadlines Redis checks. */
export class RedisClock {
  #offset: { ms: number; at: number } | undefined;

  /**
   * Redis' clock minus ours (ms), from TIME. Redis read its clock before the reply arrived, so
   * this is at most the true offset: a deadline computed with it passes in Redis no later than
   * here.
   */
  async offset(client: RedisClient, endpoint: string, failure?: () => Error | undefined): Promise<number> {
    const now = Date.now();
    if (this.#offset !== undefined && now - this.#offset.at < CLOCK_REFRESH_MS) return this.#offset.ms;
    let time: Array<string | number>;
    try {
      time = await client.time();
    } catch (err) {
      // Nothing was sent for the append yet.
      // While the connection is down, its own error says why (not the command that gave up).
      throw new RedisUnavailableError('append', {
        cause: failure?.() ?? err,
        endpoint,
        outcome: 'not-stored',
      });
    }
    const at = Date.now();
    const ms = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000) - at;
    this.#offset = { ms, at };
    return ms;
  }
}
