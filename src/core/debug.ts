// Debug logging and misconfiguration warnings, with no runtime dependency.
// - `NODE_DEBUG=express-eventstream` prints one line per lifecycle step. The lines are built from
//   the diagnostics channels, subscribed only when the section is enabled, so with debugging off
//   the channels keep no subscriber and cost nothing.
// - Misconfiguration a user would otherwise not notice (an unreachable proxy, a proxy signing with
//   another key) is reported ONCE per Events object as a process warning, which Node prints
//   without any flag (`--no-warnings` silences it; `process.on('warning')` sees it).
import { debuglog } from 'node:util';
import { logText } from '../base/log-text.js';
import {
  type DiagnosticsMessages,
  type DiagnosticsSource,
  diag,
  type EventsView,
  type GripFailureMessage,
  onDiagnostics,
} from './diagnostics.js';

const log = debuglog('express-eventstream');

// Once per process, not per copy of this module: the ESM and CJS builds can both be loaded, and
// the diagnostics channels they would each subscribe to are the process's.
const STARTED = Symbol.for('express-eventstream.debug-log');

// Every value a line shows goes through logText(): ids and channel names come from clients,
// details and error messages from proxies and stores (see base/log-text.ts).
const list = (channels: readonly string[]): string => logText(channels.join(','));
const at = (m: DiagnosticsSource): string => `[${logText(m.namespace)}]`;
const from = (address: string | undefined): string =>
  address === undefined ? '' : ` from ${logText(address)}`;

/**
 * Lines per channel; publish/deliver/attempt are per batch and left to metrics and tracing. A
 * stream's connect and disconnect lines carry its `conn=<id>`, so they pair up. A resume answered
 * with a reset is not logged as a replay of 0 events.
 */
const LINES: { [K in keyof DiagnosticsMessages]?: (m: DiagnosticsMessages[K]) => string } = {
  connect: (m) =>
    `${at(m)} conn=${m.connectionId} connect${from(m.remoteAddress)} channels=${list(m.channels)}`,
  disconnect: (m) =>
    `${at(m)} conn=${m.connectionId} disconnect reason=${m.reason} after ${Math.round(m.durationMs)} ms${from(m.remoteAddress)} channels=${list(m.channels)}`,
  replay: (m) =>
    m.reset && m.events === 0
      ? `${at(m)} resume after ${logText(m.lastEventId)} via ${m.via} answered with stream-reset`
      : `${at(m)} replay ${m.events} events after ${logText(m.lastEventId)} via ${m.via}`,
  refuse: (m) =>
    `${at(m)} refused ${m.status} ${logText(m.method)} ${logText(m.path)}${from(m.remoteAddress)}: ${logText(m.reason)}`,
  reset: (m) => `${at(m)} stream-reset reason=${m.reason} channels=${list(m.channels)} via ${m.via}`,
  slowDrop: (m) =>
    `${at(m)} slow client dropped: ${m.bufferedBytes} bytes buffered (max ${m.maxBufferBytes}) channels=${list(m.channels)}`,
  gripRetry: (m) =>
    `${at(m)} GRIP publish to ${logText(m.proxy)} failed (attempt ${m.attempt}: ${logText(m.detail)}); retry in ${Math.round(m.delayMs)} ms`,
  gripFailure: (m) =>
    `${at(m)} GRIP publish to ${logText(m.proxy)} gave up after ${m.attempts} attempts: ${logText(m.error.message)}`,
  gripSigRejected: (m) => `${at(m)} Grip-Sig rejected: ${logText(m.reason)}`,
  storeError: (m) => `${at(m)} event store ${m.operation} failed: ${logText(m.error.message)}`,
};

/** Subscribe the debug lines, once per process, when `NODE_DEBUG` names express-eventstream. */
export function startDebugLog(): void {
  const marks = globalThis as { [STARTED]?: true };
  if (marks[STARTED]) return;
  marks[STARTED] = true;
  if (!log.enabled) return;
  for (const key of Object.keys(LINES) as (keyof DiagnosticsMessages)[]) {
    const line = LINES[key] as (m: DiagnosticsMessages[typeof key]) => string;
    onDiagnostics(key, (m) => log('%s', line(m)));
  }
}

/** Codes of the misconfiguration warnings (`warning.code` in `process.on('warning')`). */
export type WarningCode =
  | 'EXPRESS_EVENTSTREAM_GRIP_UNREACHABLE'
  | 'EXPRESS_EVENTSTREAM_GRIP_SIG_KEY'
  | 'EXPRESS_EVENTSTREAM_GRIP_MULTI_CHANNEL';

const warned = new WeakMap<object, Set<WarningCode>>();

/** Emit `message` as a process warning the first time `code` happens for `owner`. */
export function warnOnce(owner: object, code: WarningCode, message: string): void {
  let codes = warned.get(owner);
  if (codes === undefined) {
    codes = new Set();
    warned.set(owner, codes);
  }
  if (codes.has(code)) return;
  codes.add(code);
  process.emitWarning(message, { type: 'ExpressEventStreamWarning', code });
}

/** A GRIP publish gave up: the diagnostics message, and the once-only warning for a dead proxy. */
export function gripFailed(
  d: DiagnosticsSource,
  proxy: string,
  attempts: number,
  outcome: GripFailureMessage['outcome'],
  error: Error,
): void {
  if (diag.gripFailure.hasSubscribers) diag.gripFailure.publish({ ...d, proxy, attempts, outcome, error });
  if (outcome !== 'network-error') return;
  warnOnce(
    d.source,
    'EXPRESS_EVENTSTREAM_GRIP_UNREACHABLE',
    `GRIP proxy unreachable: publishing to ${logText(proxy)} failed with a connection error (${logText(error.message)}). ` +
      'Clients connected through the proxy do not get events. Check the grip option / GRIP_URL and that ' +
      'the proxy is running. (Shown once; NODE_DEBUG=express-eventstream logs every retry.)',
  );
}

/** The reason `verifyGripSig` gives when no configured key verifies the signature. */
const KEY_MISMATCH = 'invalid Grip-Sig: signature does not verify';

/** A request's Grip-Sig did not verify: the diagnostics message, and a once-only warning for a key mismatch. */
export function gripSigRejected(source: EventsView, reason: string): void {
  const keyMismatch = reason === KEY_MISMATCH;
  if (diag.gripSigRejected.hasSubscribers) {
    diag.gripSigRejected.publish({ source, namespace: source.name, reason, keyMismatch });
  }
  if (!keyMismatch) return;
  warnOnce(
    source,
    'EXPRESS_EVENTSTREAM_GRIP_SIG_KEY',
    'Grip-Sig rejected: a request carried a Grip-Sig that does not verify with the configured key, and was ' +
      'refused with 403. If it came through your GRIP proxy, the proxy signs with another key than the app ' +
      'expects (Pushpin: sig_key; the app: key / verifyKey of the grip option). (Shown once.)',
  );
}

/**
 * A proxy holds a stream on several channels without reliable mode. The proxy delivers each channel
 * on its own, so one Last-Event-ID cannot say where the client is in every channel: said once, so
 * the loss is never silent (docs/scaling.md, "Several channels per stream").
 */
export function multiChannelHoldWithoutReliable(source: EventsView): void {
  warnOnce(
    source,
    'EXPRESS_EVENTSTREAM_GRIP_MULTI_CHANNEL',
    'A GRIP proxy holds a stream on several channels without reliable mode: on resume such a stream can ' +
      'skip or repeat events of one channel that the proxy delivered after a later event of another. Turn on ' +
      'reliable mode (events({ grip, reliable })) for lossless multi-channel streams. (Shown once.)',
  );
}
