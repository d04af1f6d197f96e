// What a publish sends: the `{"items":[…]}` bodies of a batch, and the validated retry policy.
import type { EncodedEvent, EventSink } from '../base/types.js';
import { BUILD_ID, escapeDirectives, ID_DIRECTIVE } from './build-id.js';
import { gripChannelName } from './channel.js';
import { GripConfigError } from './errors.js';
import type { GripRetryOptions } from './types.js';

const DEFAULT_RETRY: Required<GripRetryOptions> = {
  retries: 3,
  minDelayMs: 250,
  maxDelayMs: 5000,
  timeoutMs: 10_000,
};
/** Pushpin refuses publish bodies over 1,000,000 bytes; larger batches go out in several requests. */
const MAX_BODY_BYTES = 900_000;

export function validateRetry(retry: GripRetryOptions | undefined): Required<GripRetryOptions> {
  const out = { ...DEFAULT_RETRY };
  if (retry === undefined) return out;
  if (retry === null || typeof retry !== 'object')
    throw new GripConfigError('GRIP retry options must be an object');
  const check = (name: keyof GripRetryOptions, min: number, max: number, integer: boolean): void => {
    const v = retry[name];
    if (v === undefined) return;
    if (
      typeof v !== 'number' ||
      !Number.isFinite(v) ||
      v < min ||
      v > max ||
      (integer && !Number.isInteger(v))
    ) {
      throw new GripConfigError(
        `GRIP retry.${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`,
      );
    }
    out[name] = v;
  };
  check('retries', 0, 100, true);
  check('minDelayMs', 0, 600_000, false);
  check('maxDelayMs', 0, 600_000, false);
  check('timeoutMs', 1, 600_000, false);
  if (out.minDelayMs > out.maxDelayMs)
    throw new GripConfigError('GRIP retry.minDelayMs must not exceed retry.maxDelayMs');
  return out;
}

/** A publish request body and how many items it holds. */
export interface Body {
  readonly text: string;
  readonly items: number;
}

/** The publishing sink, which also sends other bodies (closes) in the same per-proxy order. */
export interface GripSink extends EventSink {
  send(bodies: readonly Body[]): Promise<void>;
}

/** `{"items":[…]}` bodies for a batch, in publish order. */
export function encodeBodies(batch: readonly EncodedEvent[], prefix: string, reliable: boolean): Body[] {
  const bodies: Body[] = [];
  let items: string[] = [];
  let size = 0;
  const flush = (): void => {
    if (items.length > 0) bodies.push({ text: `{"items":[${items.join(',')}]}`, items: items.length });
    items = [];
    size = 0;
  };
  for (const ev of batch) {
    const item: {
      channel: string;
      id?: string;
      'prev-id'?: string;
      formats: { 'http-stream': { content: string; 'content-filters'?: string[] } };
    } = {
      // The same wire form as the hold's Grip-Channel, so non-ASCII names match.
      channel: gripChannelName(prefix, ev.channel),
      formats: { 'http-stream': reliable ? filtered(ev) : { content: ev.text } },
    };
    // Pushpin drops an item whose id it saw on the channel in the last minute; an empty id is no id.
    if (ev.id !== undefined && ev.id !== '') item.id = ev.id;
    if (reliable && ev.prevId !== undefined) item['prev-id'] = ev.prevId;
    const json = JSON.stringify(item);
    const bytes = Buffer.byteLength(json) + 1;
    if (items.length > 0 && size + bytes > MAX_BODY_BYTES) flush();
    items.push(json);
    size += bytes;
  }
  flush();
  return bodies;
}

/**
 * Reliable mode: the content the build-id filter turns into each connection's own text. The id
 * line becomes `%I` (the connection's composite id), every other `%` is escaped, and the item
 * declares the filter, as every reliable hold does (a mismatch errors the connection).
 */
function filtered(ev: EncodedEvent): { content: string; 'content-filters': string[] } {
  const line = ev.id === undefined || ev.id === '' ? undefined : `id: ${ev.id}\n`;
  const content =
    line !== undefined && ev.text.startsWith(line)
      ? `id: ${ID_DIRECTIVE}\n${escapeDirectives(ev.text.slice(line.length))}`
      : escapeDirectives(ev.text);
  return { content, 'content-filters': [BUILD_ID] };
}
