// GRIP as one plug-in behind one interface. The core creates it from `events({ grip, gripRetry,
// prefix, reliable })`; the request decision asks it whether a request came through a proxy, what
// a hold answers and what a recovery fetch asks for; the publish pipeline sends through its sink.
import { gripSigRejected, multiChannelHoldWithoutReliable } from '../core/debug.js';
import type { DiagnosticsSource } from '../core/diagnostics.js';
import type { EventSink } from '../core/types.js';
import type { RequestView } from '../protocol/request-view.js';
import { queryOf } from '../protocol/request-view.js';
import { escapeDirectives, idFormat } from './build-id.js';
import { holdHeaders } from './instructions.js';
import { createGripSink } from './publisher.js';
import {
  hasGripLast,
  linkLifetimeSec,
  parseGripLast,
  RECOVER_PARAM,
  recoveryLink,
  signRecoveryToken,
  verifyRecoveryToken,
} from './recovery.js';
import { checkGripRequest } from './request.js';
import type { GripRequestCheck, GripRetryOptions, GripSettings } from './types.js';

/** Resolved reliable-mode settings. */
export interface ReliableSettings {
  secret: string | Uint8Array;
  linkTimeoutSec: number;
}

/** A recovery fetch by the proxy: the signed channels and the last id it has of each. */
export type RecoveryRequest =
  | { readonly valid: true; readonly channels: string[]; readonly positions: Record<string, string> }
  | { readonly valid: false };

export interface GripPlugin {
  /** `direct`, `proxied` (a verified proxy signed it), or `invalid` (→ 403). Never rejects. */
  check(view: RequestView): GripRequestCheck | Promise<GripRequestCheck>;
  /**
   * Reliable mode, on a proxied GET: the recovery the proxy asks for, or undefined when this is no
   * recovery fetch. A link is honoured only on a fetch by the proxy itself: signed by it and
   * carrying Grip-Last, which Pushpin adds to its link fetches and strips from clients; anything
   * else with `?es-recover=` is an ordinary request and the parameter is ignored.
   */
  recovery(view: RequestView): RecoveryRequest | undefined;
  /** Headers that make the proxy hold the stream on `channels` (with `prev-id`s and a recovery link in reliable mode). */
  holdHeaders(
    view: RequestView,
    channels: readonly string[],
    lastIds: Readonly<Record<string, string>> | undefined,
  ): Record<string, string>;
  /**
   * The body of a hold or recovery answer as the proxy must get it: in reliable mode it passes the
   * build-id filter, which would read `%` as a directive.
   */
  holdText(text: string): string;
  /** Publishes each batch to the proxies; undefined when there are none to publish to. */
  readonly sink: EventSink | undefined;
  /** The same plug-in, verifying against other proxies (`express({ grip })`); it publishes nothing. */
  withProxies(proxies: GripSettings | undefined): GripPlugin;
}

export interface GripPluginOptions {
  proxies: GripSettings | undefined;
  prefix: string;
  keepAlive: { text: string; intervalMs: number } | undefined;
  reliable: ReliableSettings | undefined;
  retry?: GripRetryOptions | undefined;
  /** The Events object it serves, named in diagnostics messages and warnings. */
  diagnostics?: DiagnosticsSource | undefined;
}

const DIRECT: GripRequestCheck = Object.freeze({ kind: 'direct' });

export function createGripPlugin(options: GripPluginOptions, publish = true): GripPlugin {
  const { proxies, prefix, keepAlive, reliable } = options;
  const sink =
    publish && proxies !== undefined
      ? createGripSink(proxies, {
          prefix,
          ...(options.retry !== undefined && { retry: options.retry }),
          reliable: reliable !== undefined,
          ...(options.diagnostics !== undefined && { diagnostics: options.diagnostics }),
        })
      : undefined;
  return {
    sink,
    // Without proxies nothing is verified: answered synchronously, no promise per request.
    check:
      proxies === undefined
        ? () => DIRECT
        : async (view) => {
            const check = await checkGripRequest(view, proxies);
            if (check.kind === 'invalid' && options.diagnostics !== undefined) {
              gripSigRejected(options.diagnostics.source, check.reason);
            }
            return check;
          },
    recovery(view) {
      if (reliable === undefined || view.method !== 'GET' || !hasGripLast(view)) return undefined;
      const token = queryOf(view).get(RECOVER_PARAM);
      if (token === null) return undefined;
      const channels = verifyRecoveryToken(token, reliable.secret);
      if (channels === undefined) return { valid: false };
      return { valid: true, channels, positions: parseGripLast(view, prefix) };
    },
    holdHeaders(view, channels, lastIds) {
      if (reliable === undefined && channels.length > 1 && options.diagnostics !== undefined) {
        multiChannelHoldWithoutReliable(options.diagnostics.source);
      }
      const link =
        reliable === undefined
          ? undefined
          : {
              uri: recoveryLink(
                view,
                signRecoveryToken(channels, reliable.secret, linkLifetimeSec(reliable.linkTimeoutSec)),
              ),
              timeoutSec: reliable.linkTimeoutSec,
            };
      return holdHeaders({
        channels,
        prefix,
        keepAlive,
        ...(link !== undefined &&
          lastIds !== undefined && { link, prevIds: lastIds, idFormat: idFormat(prefix, channels) }),
      });
    },
    holdText: reliable === undefined ? (text) => text : escapeDirectives,
    withProxies: (other) => createGripPlugin({ ...options, proxies: other }, false),
  };
}
