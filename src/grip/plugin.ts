// GRIP as one plug-in behind one interface. The core creates it from `events({ grip, gripRetry,
// prefix, reliable })`; the request decision asks it whether a request came through a proxy, what
// a hold answers and what a recovery fetch asks for; the publish pipeline sends through its sink.

import type { EventSink, StreamIdentity } from '../base/types.js';
import { gripSigRejected, multiChannelHoldWithoutReliable } from '../core/debug.js';
import type { DiagnosticsSource } from '../core/diagnostics.js';
import type { GripRequestCheck, GripRequests } from '../protocol/grip-requests.js';
import { queryOf } from '../protocol/request-view.js';
import { escapeDirectives, idFormat } from './build-id.js';
import { closeBody, type HeldSelector, identityChannels, isExact, selectedChannel } from './held-streams.js';
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
import type { GripRetryOptions, GripSettings } from './types.js';

/** Resolved reliable-mode settings. */
export interface ReliableSettings {
  secret: string | Uint8Array;
  linkTimeoutSec: number;
}

/** The request side the decision uses, plus what the core needs to publish. */
export interface GripPlugin extends GripRequests {
  /** Publishes each batch to the proxies; undefined when there are none to publish to. */
  readonly sink: EventSink | undefined;
  /**
   * End the streams the proxies hold for `selector` (revocation, expiry), after `text` when the
   * selector names them exactly; resolves at once without proxies.
   */
  closeHeld(selector: HeldSelector, text: string): Promise<void>;
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

/**
 * Pushpin's `connection_subscription_max` (1.36, its default): a hold naming more channels is cut
 * to the first ones, with only a warning in the proxy's log.
 */
const MAX_HELD_CHANNELS = 20;

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
      const state = verifyRecoveryToken(token, reliable.secret);
      if (state === undefined) return { valid: false };
      const { channels, identity } = state;
      return {
        valid: true,
        channels,
        positions: parseGripLast(view, prefix),
        identity:
          identity && Object.freeze({ ...identity, channels: Object.freeze([]), claims: Object.freeze({}) }),
      };
    },
    closeHeld: (selector, text) =>
      sink === undefined
        ? Promise.resolve()
        : sink.send([closeBody(selectedChannel(prefix, selector), isExact(selector) ? text : undefined)]),
    holdHeaders(view, channels, lastIds, identity?: StreamIdentity) {
      if (reliable === undefined && channels.length > 1 && options.diagnostics !== undefined) {
        multiChannelHoldWithoutReliable(options.diagnostics.source);
      }
      const link =
        reliable === undefined
          ? undefined
          : {
              uri: recoveryLink(
                view,
                signRecoveryToken(
                  channels,
                  reliable.secret,
                  linkLifetimeSec(reliable.linkTimeoutSec),
                  Date.now(),
                  identity,
                ),
              ),
              timeoutSec: reliable.linkTimeoutSec,
            };
      return holdHeaders({
        channels,
        prefix,
        keepAlive,
        privateChannels: identityChannels(prefix, identity),
        ...(link !== undefined &&
          lastIds !== undefined && { link, prevIds: lastIds, idFormat: idFormat(prefix, channels) }),
      });
    },
    holdProblem(channels, identity) {
      const own = identityChannels(prefix, identity).length;
      if (channels.length + own <= MAX_HELD_CHANNELS) return undefined;
      const why =
        own === 0 ? '' : ` (${channels.length} requested, ${own} for its token's revocation and expiry)`;
      return `a stream through the proxy subscribes at most ${MAX_HELD_CHANNELS} channels (Pushpin's connection_subscription_max), this one ${channels.length + own}${why}`;
    },
    holdText: reliable === undefined ? (text) => text : escapeDirectives,
    withProxies: (other) => createGripPlugin({ ...options, proxies: other }, false),
  };
}
