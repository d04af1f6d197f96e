// The options of redisBus() (and of redis()'s `bus`), and the bus' default encoding.
import { type EncodedEvent, Events } from 'express-eventstream';
import { packageInternals } from '../../compose/internal-key.js';
import type { RedisStore } from './store.js';
import type { BusEvent } from './types.js';

export interface RedisBusOptions {
  /** The Redis store the events are appended to (its client is duplicated for subscribing). */
  store: RedisStore;
  /** Builds what the hub writes from an event. Default: `id: <epoch>-<seq>` followed by the body. */
  encode?: (event: BusEvent) => EncodedEvent;
  /** Called with each Redis failure (the bus never throws them). Default: ignore. */
  onError?: (error: Error) => void;
  /** Events read per store call while catching up. Default 1000. */
  pageSize?: number;
  /** Events buffered while catching up before the buffer is dropped (and re-read). Default 100 000. */
  maxBuffered?: number;
  /**
   * How often (ms) the bus checks the store for events pub/sub lost when nothing followed them
   * on their channel (a later event shows the gap at once); one read for all channels. `false`
   * turns it off. Default 10 000.
   */
  checkIntervalMs?: number | false;
  /**
   * Close the store when the bus closes, so `events.close()` releases both (`redis()` sets it).
   * Default false: a store passed in stays open.
   */
  closeStore?: boolean;
}

/** The keys redisBus() accepts. */
export const BUS_KEYS = [
  'store',
  'encode',
  'onError',
  'pageSize',
  'maxBuffered',
  'checkIntervalMs',
  'closeStore',
] as const;

/** Default encoding: the SSE text the core writes for a stored event (a core internal). */
export const encodeBusEvent: (event: BusEvent) => EncodedEvent = packageInternals(Events).encodeStoredEvent;
