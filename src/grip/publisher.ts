import type { EncodedEvent } from '../base/types.js';
import { gripFailed } from '../core/debug.js';
import { type DiagnosticsSource, diag, type GripAttemptOutcome } from '../core/diagnostics.js';
import { GripConfigError, GripPublishError } from './errors.js';
import { type ResolvedProxy, resolvedProxies } from './grip-url.js';
import { loadJose } from './jose.js';
import { type Body, encodeBodies, type GripSink, validateRetry } from './publish-body.js';
import type { GripRetryOptions, GripSettings } from './types.js';

const JWT_LIFETIME_SEC = 600;
const BODY_EXCERPT = 1024;

export interface GripSinkOptions {
  /** Prepended to every channel name (the same prefix `holdHeaders` uses). */
  prefix: string;
  retry?: GripRetryOptions;
  /** Reliable mode: send each item's `prev-id` (the previous event on its channel). */
  reliable?: boolean;
  /** The Events object the sink publishes for, named in diagnostics messages and warnings. */
  diagnostics?: DiagnosticsSource;
}

/** Shared state of one sink: closing wakes sleepers and aborts requests so no timer outlives it. */
interface SinkState {
  closed: boolean;
  readonly retry: Required<GripRetryOptions>;
  readonly sleepers: Set<() => void>;
  readonly requests: Set<AbortController>;
  readonly diagnostics: DiagnosticsSource | undefined;
}

type Attempt =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly outcome: Exclude<GripAttemptOutcome, 'ok'>;
      readonly retryable: boolean;
      readonly detail: string;
      readonly status?: number;
      readonly body?: string;
      readonly cause?: unknown;
      readonly retryAfterMs?: number;
    };

/**
 * Publishes each batch to every configured proxy: one `POST …/publish/` per proxy per batch (split
 * only past ~900 kB), all proxies concurrently. Batches are serialized per proxy, so a batch being
 * retried holds back later ones and per-channel order survives retries. `publish()` resolves when
 * every proxy answered 2xx and rejects with a `GripPublishError` otherwise; it never throws
 * synchronously. `close()` stops retries, aborts requests in flight and leaves no timers behind.
 */
export function createGripSink(settings: GripSettings, options: GripSinkOptions): GripSink {
  if (typeof options.prefix !== 'string') throw new GripConfigError('GRIP prefix must be a string');
  const state: SinkState = {
    closed: false,
    retry: validateRetry(options.retry),
    sleepers: new Set(),
    requests: new Set(),
    diagnostics: options.diagnostics,
  };
  const publishers = resolvedProxies(settings).map((proxy) => new ProxyPublisher(proxy, state));
  const prefix = options.prefix;
  // Enqueued on every proxy before the first await, so concurrent calls keep their order.
  const send = async (bodies: readonly Body[]): Promise<void> => {
    if (state.closed)
      throw new GripPublishError(publishers[0]?.url ?? '', 'GRIP sink is closed', { attempts: 0 });
    const results = await Promise.allSettled(publishers.map((p) => p.enqueue(bodies)));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [asPublishError(r.reason)] : []));
    const first = failures[0];
    if (first !== undefined) {
      first.failures = failures;
      throw first;
    }
  };
  return {
    send,
    publish: (batch: readonly EncodedEvent[]): Promise<void> =>
      batch.length === 0 && !state.closed
        ? Promise.resolve()
        : send(encodeBodies(batch, prefix, options.reliable === true)),
    async close(): Promise<void> {
      state.closed = true;
      for (const wake of [...state.sleepers]) wake();
      for (const ac of [...state.requests]) ac.abort(new Error('GRIP sink closed'));
      await Promise.all(publishers.map((p) => p.drained()));
    },
  };
}

const asPublishError = (reason: unknown): GripPublishError =>
  reason instanceof GripPublishError
    ? reason
    : new GripPublishError('', `GRIP publish failed: ${String(reason)}`, { attempts: 0, cause: reason });

class ProxyPublisher {
  readonly url: string;
  /** The publish endpoint without its query string, for diagnostics. */
  readonly proxyName: string;
  private tail: Promise<void> = Promise.resolve();
  private jwt: { token: string; renewAt: number } | undefined;

  constructor(
    private readonly proxy: ResolvedProxy,
    private readonly state: SinkState,
  ) {
    this.url = proxy.publishUrl;
    this.proxyName = proxy.publishUrl.split('?')[0]!;
  }

  enqueue(bodies: readonly Body[]): Promise<void> {
    const run = this.tail.then(() => this.sendAll(bodies));
    this.tail = run.catch(() => undefined);
    return run;
  }

  drained(): Promise<void> {
    return this.tail;
  }

  private async sendAll(bodies: readonly Body[]): Promise<void> {
    for (const body of bodies) await this.sendWithRetry(body);
  }

  private async sendWithRetry(body: Body): Promise<void> {
    const { retries } = this.state.retry;
    const d = this.state.diagnostics;
    let attempts = 0;
    for (;;) {
      if (this.state.closed) throw this.failure(attempts, undefined, 'the GRIP sink was closed');
      attempts += 1;
      const startedAt = performance.now();
      const outcome = await this.attempt(body.text);
      if (d !== undefined && diag.gripAttempt.hasSubscribers)
        this.reportAttempt(d, attempts, body, startedAt, outcome);
      if (outcome.ok) return;
      if (!outcome.retryable || attempts > retries || this.state.closed) {
        const error = this.failure(
          attempts,
          outcome,
          this.state.closed ? 'the GRIP sink was closed' : undefined,
        );
        if (d !== undefined)
          gripFailed(d, this.proxyName, attempts, this.state.closed ? 'closed' : outcome.outcome, error);
        throw error;
      }
      const delayMs = this.delay(attempts, outcome.retryAfterMs);
      if (d !== undefined && diag.gripRetry.hasSubscribers)
        diag.gripRetry.publish({
          ...d,
          proxy: this.proxyName,
          attempt: attempts,
          delayMs,
          detail: outcome.detail,
        });
      await this.sleep(delayMs);
    }
  }

  private reportAttempt(
    d: DiagnosticsSource,
    attempt: number,
    body: Body,
    startedAt: number,
    outcome: Attempt,
  ): void {
    const durationMs = performance.now() - startedAt;
    const base = {
      ...d,
      proxy: this.proxyName,
      attempt,
      items: body.items,
      bytes: Buffer.byteLength(body.text),
      durationMs,
    };
    if (outcome.ok) {
      diag.gripAttempt.publish({ ...base, outcome: 'ok' });
      return;
    }
    const status = outcome.status === undefined ? {} : { status: outcome.status };
    diag.gripAttempt.publish({ ...base, outcome: outcome.outcome, detail: outcome.detail, ...status });
  }

  private failure(
    attempts: number,
    last: Extract<Attempt, { ok: false }> | undefined,
    note?: string,
  ): GripPublishError {
    const parts = [
      `GRIP publish to ${this.url} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}`,
    ];
    if (last !== undefined) parts.push(last.detail);
    if (note !== undefined) parts.push(note);
    return new GripPublishError(this.url, parts.join(': '), {
      status: last?.status,
      body: last?.body,
      attempts,
      cause: last?.cause,
    });
  }

  /** Exponential backoff with "equal jitter": half fixed, half random; Retry-After is honoured up to the cap. */
  private delay(attempts: number, retryAfterMs: number | undefined): number {
    const { minDelayMs, maxDelayMs } = this.state.retry;
    const base = Math.min(maxDelayMs, minDelayMs * 2 ** (attempts - 1));
    const jittered = base / 2 + Math.random() * (base / 2);
    return retryAfterMs === undefined ? jittered : Math.max(jittered, Math.min(retryAfterMs, maxDelayMs));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.state.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.state.sleepers.add(wake);
    });
  }

  private async attempt(body: string): Promise<Attempt> {
    const ac = new AbortController();
    this.state.requests.add(ac);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort(new Error('timeout'));
    }, this.state.retry.timeoutMs);
    try {
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        Accept: 'application/json',
      };
      const authorization = await this.authorization();
      if (authorization !== undefined) headers.Authorization = authorization;
      const res = await fetch(this.url, { method: 'POST', headers, body, signal: ac.signal });
      const text = await res.text();
      if (res.ok) return { ok: true };
      const status = res.status;
      const excerpt = text.length > BODY_EXCERPT ? `${text.slice(0, BODY_EXCERPT)}…` : text;
      const retryAfter = Number(res.headers.get('retry-after'));
      return {
        ok: false,
        outcome: 'http-error',
        retryable: status >= 500 || status === 408 || status === 429,
        detail: `HTTP ${status}${excerpt.trim() ? ` ${excerpt.trim()}` : ''}`,
        status,
        body: excerpt,
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
      };
    } catch (err) {
      const detail = timedOut
        ? `no answer within ${this.state.retry.timeoutMs} ms`
        : this.state.closed
          ? 'aborted'
          : networkDetail(err);
      const outcome = timedOut ? 'timeout' : this.state.closed ? 'aborted' : 'network-error';
      return { ok: false, outcome, retryable: true, detail, cause: err };
    } finally {
      clearTimeout(timer);
      this.state.requests.delete(ac);
    }
  }

  private async authorization(): Promise<string | undefined> {
    const auth = this.proxy.auth;
    switch (auth.kind) {
      case 'none':
        return undefined;
      case 'bearer':
        return `Bearer ${auth.token}`;
      case 'basic':
        return auth.header;
      case 'jwt': {
        const now = Date.now();
        if (this.jwt !== undefined && now < this.jwt.renewAt) return `Bearer ${this.jwt.token}`;
        const jose = await loadJose();
        const exp = Math.floor(now / 1000) + JWT_LIFETIME_SEC;
        const token = await new jose.SignJWT({ iss: auth.iss, exp })
          .setProtectedHeader({ alg: 'HS256' })
          .sign(auth.secret);
        // Renew a minute before expiry so a token never arrives stale.
        this.jwt = { token, renewAt: now + (JWT_LIFETIME_SEC - 60) * 1000 };
        return `Bearer ${token}`;
      }
    }
  }
}

function networkDetail(err: unknown): string {
  // undici reports "fetch failed" and keeps the useful part (ECONNREFUSED, …) in `cause`.
  const cause = (err as { cause?: unknown } | null)?.cause;
  const inner = cause instanceof Error ? cause.message : undefined;
  const outer = err instanceof Error ? err.message : String(err);
  return inner ? `${outer} (${inner})` : outer;
}
