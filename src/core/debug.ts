// Debug logging and misconfiguration warnings, with no runtime dependency.
// - `NODE_DEBUG=express-eventstream` prints one line per lifecycle step. The lines are built from
//   the diagnostics channels, subscribed only when the section is enabled, so with debugging off
//   the channels keep no subscriber and cost nothing.
// - Misconfiguration a user would otherwise not notice (an unreachable proxy, a proxy signing with
//   another key) is reported ONCE per Events object as a process warning, which Node prints
//   without any flag (`--no-warnings` silences it; `process.on('warning')` sees it).
import { debuglog } from 'node:util';
import {
  type DiagnosticsMessages,
  type DiagnosticsSource,
  diag,
  type EventsView,
  type GripFailureMessage,
  onDiagnostics,
} from './diagnostics.js';

const log = debuglog('express-eventstream');
let started = false;

const list = (channels: readonly string[]): string => channels.join(',');

/** Lines per channel; publish/deliver/attempt are per batch and left to metrics and tracing. */
const LINES: { [K in keyof DiagnosticsMessages]?: (m: DiagnosticsMessages[K]) => string } = {
  connect: (m) => `[${m.namespace}] connect channels=${list(m.channels)}`,
  disconnect: (m) => `[${m.namespace}] disconnect reason=${m.reason} channels=${list(m.channels)}`,
  replay: (m) => `[${m.namespace}] replay ${m.events} events after ${m.lastEventId} via ${m.via}`,
  reset: (m) => `[${m.namespace}] stream-reset reason=${m.reason} channels=${list(m.channels)} via ${m.via}`,
  slowDrop: (m) =>
    `[${m.namespace}] slow client dropped: ${m.bufferedBytes} bytes buffered (max ${m.maxBufferBytes}) channels=${list(m.channels)}`,
  gripRetry: (m) =>
    `[${m.namespace}] GRIP publish to ${m.proxy} failed (attempt ${m.attempt}: ${m.detail}); retry in ${Math.round(m.delayMs)} ms`,
  gripFailure: (m) =>
    `[${m.namespace}] GRIP publish to ${m.proxy} gave up after ${m.attempts} attempts: ${m.error.message}`,
  gripSigRejected: (m) => `[${m.namespace}] Grip-Sig rejected: ${m.reason}`,
  storeError: (m) => `[${m.namespace}] event store ${m.operation} failed: ${m.error.message}`,
};

/** Subscribe the debug lines, once per process, when `NODE_DEBUG` names express-eventstream. */
export function startDebugLog(): void {
  if (started) return;
  started = true;
  if (!log.enabled) return;
  for (const key of Object.keys(LINES) as (keyof DiagnosticsMessages)[]) {
    const line = LINES[key] as (m: DiagnosticsMessages[typeof key]) => string;
    onDiagnostics(key, (m) => log('%s', line(m)));
  }
}

/** Codes of the misconfiguration warnings (`warning.code` in `process.on('warning')`). */
export type WarningCode = 'EXPRESS_EVENTSTREAM_GRIP_UNREACHABLE' | 'EXPRESS_EVENTSTREAM_GRIP_SIG_KEY';

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
    `GRIP proxy unreachable: publishing to ${proxy} failed with a connection error (${error.message}). ` +
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
