// One published event, validated and encoded once: everything but the `id:` line, which the
// history assigns; `assignId()` adds it.
import { assertChannelName } from '../base/channel-name.js';
import {
  assertEventId,
  assertEventName,
  assertRetry,
  dataToText,
  encodeFields,
  withId,
} from '../base/encoder.js';
import { EventStreamError, InvalidEventError } from '../base/errors.js';
import type { EncodedEvent } from '../base/types.js';

const EVENT_KEYS = new Set(['event', 'data', 'id', 'retry', 'raw']);

/** A validated event waiting for its id: everything but the `id:` line is encoded. */
export interface PendingEvent {
  channel: string;
  event: string | undefined;
  /** A caller-supplied id (history off only). */
  id: string | undefined;
  body: string;
  /** `publish(…, { idempotencyKey })`: the history stores it at most once per key. */
  key?: string;
}

/** Validate an event object and encode everything but its id, once. */
export function validateAndEncode(channel: string, input: unknown): PendingEvent {
  if (input === null || typeof input !== 'object') {
    throw new InvalidEventError('event', 'an event must be an object like { event, data }');
  }
  // Each field is read exactly once, here: a getter or Proxy that throws (or changes its answer)
  // cannot get past validation, and what it throws becomes a typed error.
  let fields: Record<string, unknown>;
  try {
    fields = readFields(input as Record<string, unknown>);
  } catch (cause) {
    if (cause instanceof EventStreamError) throw cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new InvalidEventError('event', `reading the event object threw: ${reason}`, { cause });
  }
  const { event, id, retry, raw, data } = fields;
  assertEventName(event);
  assertEventId(id);
  assertRetry(retry);
  if (raw !== undefined && typeof raw !== 'boolean')
    throw new InvalidEventError('raw', 'raw must be a boolean');
  const body = encodeFields({ event, retry, data: dataToText(data, raw === true) });
  return { channel, event, id, body };
}

function readFields(ev: Record<string, unknown>): Record<string, unknown> {
  // Inside the guarded read: Array.isArray throws on a revoked Proxy.
  if (Array.isArray(ev))
    throw new InvalidEventError('event', 'an event must be an object like { event, data }');
  for (const key in ev) {
    if (!EVENT_KEYS.has(key)) {
      throw new InvalidEventError(key, `unknown event field '${key}' (allowed: event, data, id, retry, raw)`);
    }
  }
  return { event: ev.event, id: ev.id, retry: ev.retry, raw: ev.raw, data: ev.data };
}

/** The event with its `id:` line (and its history position, if any): what subscribers receive. */
export function assignId(
  p: PendingEvent,
  id: string | undefined,
  seq: number | undefined,
  prevId?: string,
): EncodedEvent {
  const text = withId(id, p.body);
  return { channel: p.channel, id, seq, prevId, event: p.event, text, bytes: Buffer.from(text) };
}

/** Validate and encode one event (no history): what a subscriber receives for it. */
export function encode(channel: string, input: unknown): EncodedEvent {
  const p = validateAndEncode(channel, input);
  return assignId(p, p.id, undefined);
}

/**
 * An event's stored text for a store that takes events outside `publish()` (a transactional
 * publish): the channel and event checked as `publish()` checks them, an `id` refused (the
 * history assigns it).
 */
export function encodeForStore(channel: string, input: unknown): string {
  assertChannelName(channel);
  const p = validateAndEncode(channel, input);
  if (p.id !== undefined) {
    throw new InvalidEventError('id', 'ids are assigned by the event history: leave out id');
  }
  return p.body;
}
