// events() options: validation and resolution into Settings. Unknown keys are refused by name.

import { assertChannelName, DEFAULT_MAX_CHANNEL_NAME_LENGTH } from '../base/channel-name.js';
import { encodeKeepAliveEvent } from '../base/encoder.js';
import { InvalidOptionError } from '../base/errors.js';
import { assertGripKeys, assertKnownKeys, durationOption, integerOption } from '../base/option-checks.js';
import { type OverloadOption, type OverloadResolver, resolveOverload } from '../core/overload.js';
import type { EventBus } from '../engine/bus.js';
import type { ControlChannel } from '../engine/control.js';
import type { SharedState } from '../engine/state.js';
import type { EventStore } from '../engine/store.js';
import { type GripOption, type GripRetryOptions, resolveGrip } from '../grip/index.js';
import type { ReliableSettings } from '../grip/plugin.js';
import { randomRecoverySecret } from '../grip/recovery.js';
import type { GripSettings } from '../grip/types.js';
import { MemoryStore, type MemoryStoreOptions } from '../history/memory-store.js';
import { type PresenceOption, type PresenceSettings, resolvePresence } from '../presence/options.js';

/** The options of `events()`: the history, the engine, GRIP proxies, limits and overload policies. */
export interface EventsOptions {
  /** Names this namespace in diagnostics messages, debug logs and metric labels. Default `'default'`. */
  name?: string;
  /** Prefix of GRIP channel names (`events-clock` for channel `clock`). Default `'events-'`. */
  prefix?: string;
  /** GRIP proxies to publish to: a GRIP_URL, an array of them, or objects. Default: none. */
  grip?: GripOption | undefined | null;
  /** Retry policy for publishing to GRIP proxies. */
  gripRetry?: GripRetryOptions;
  /** Silence in ms after which a keep-alive is sent; `false` disables. Default 20 000. */
  keepAlive?: number | false;
  /** `'event'` (default): `event: keep-alive` with empty data, visible to EventSource listeners. `'comment'`: a `:` line. */
  keepAliveFormat?: 'event' | 'comment';
  /**
   * Bound of each connection's backlog in bytes (written, not yet taken by the client); a client
   * whose backlog is beyond it when more is written is disconnected. Default 1 MiB.
   */
  maxBufferBytes?: number;
  /**
   * What a subscriber whose backlog reached `maxBufferBytes` gets, per channel: `'disconnect'`
   * (default: it reconnects and resumes from the history), `'drop-oldest'` (it stays; the oldest
   * events it had not taken are dropped and a `stream-missed` event says how many), or
   * `{ conflate: (event) => key }` (it stays and gets the latest event of each key, in order of
   * last change). `{ default, channels: { name or 'prefix-*': policy } }` sets it per channel.
   */
  overload?: OverloadOption;
  /**
   * Presence: `events.presence(channel)` lists who is subscribed, across processes (through
   * `control` and `state`). `true` for every channel, or `{ channels, ttlMs }`. Default off.
   */
  presence?: PresenceOption;
  /** Largest event `publish()` accepts, in bytes of its SSE text. Default: `maxBufferBytes`. */
  maxEventBytes?: number;
  /**
   * Coalescing window for published events, in ms. Default 0: events published in the same turn
   * of the event loop (one synchronous loop, or several I/O callbacks of one poll phase) leave in
   * one write per connection, right after that phase, with no timer. A positive value holds a
   * batch up to that long so more events share its writes: a bounded delay for throughput.
   */
  flushIntervalMs?: number;
  /** Time a resuming client has to take its whole replay before it is dropped as slow. Default 30 000 ms. */
  replayTimeoutMs?: number;
  /** Most channels one request may subscribe to. Default 20 (Pushpin's own limit). */
  maxChannelsPerRequest?: number;
  /** Longest channel name. Default 128. */
  maxChannelNameLength?: number;
  /**
   * Event history, for lossless reconnection: an `EventStore`, options of the default in-memory
   * store, or `false` to turn ids and replay off. Default: in-memory, 1,000 events per channel.
   */
  history?: EventStore | MemoryStoreOptions | false;
  /**
   * GRIP reliable mode (needs history): holds carry each channel's `prev-id` and a signed
   * `Grip-Link` recovery URL, and published items carry `prev-id`, so the proxy notices a missed
   * item and fetches it from this endpoint. `secret` signs the recovery link; give every origin
   * process behind one proxy the same secret (default: random per process).
   */
  reliable?: boolean | { secret?: string | Uint8Array; linkTimeoutSec?: number };
  /**
   * Carries appended events to the hubs with subscribers: the default delivers in this process;
   * a shared bus (`redisBus()` from `express-eventstream/redis`) also delivers what other
   * processes publish. The bus delivers this process's own events too.
   */
  bus?: EventBus;
  /**
   * Control messages between the processes of this namespace (revocation, presence, stopping
   * response streams): the default reaches this process only; `redis()` and `postgres()` give
   * shared ones. Use the parts of one engine together.
   */
  control?: ControlChannel;
  /** State shared by the processes of this namespace, with expiry. Default: in this process's memory. */
  state?: SharedState;
}

/** Resolved, validated options. */
export interface Settings {
  name: string;
  prefix: string;
  keepAliveMs: number | false;
  keepAliveText: string;
  maxBufferBytes: number;
  overload: OverloadResolver;
  presence: PresenceSettings | undefined;
  maxEventBytes: number;
  flushIntervalMs: number;
  replayTimeoutMs: number;
  maxChannelsPerRequest: number;
  maxChannelNameLength: number;
  reliable: ReliableSettings | undefined;
  /** Parsed GRIP proxies (undefined: none). */
  grip: GripSettings | undefined;
  store: EventStore | undefined;
  bus: EventBus | undefined;
  control: ControlChannel | undefined;
  state: SharedState | undefined;
}

const DEFAULT_KEEP_ALIVE_MS = 20_000;

/** A positive integer option of `events()`, `fallback` when unset. */
function positiveInteger(options: EventsOptions, key: keyof EventsOptions, fallback: number): number {
  return integerOption(key, options[key], { min: 1 }, fallback);
}

// A window longer than this is a mistake, not a trade: events would sit unsent for seconds.
const MAX_FLUSH_INTERVAL_MS = 1000;

/** Every key `events()` accepts; anything else is refused, naming the closest of these. */
const EVENTS_OPTION_KEYS = [
  'prefix',
  'grip',
  'gripRetry',
  'keepAlive',
  'keepAliveFormat',
  'maxBufferBytes',
  'overload',
  'presence',
  'maxChannelsPerRequest',
  'maxChannelNameLength',
  'maxEventBytes',
  'flushIntervalMs',
  'replayTimeoutMs',
  'history',
  'reliable',
  'bus',
  'control',
  'state',
  'name',
] as const satisfies ReadonlyArray<keyof EventsOptions>;

export function resolveSettings(options: EventsOptions): Settings {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', 'events() options must be an object');
  }
  assertKnownKeys(options, EVENTS_OPTION_KEYS);
  assertGripKeys(options.grip);
  if (options.gripRetry !== null && typeof options.gripRetry === 'object') {
    assertKnownKeys(options.gripRetry, ['retries', 'minDelayMs', 'maxDelayMs', 'timeoutMs'], 'gripRetry.');
  }
  const prefix = options.prefix ?? 'events-';
  if (typeof prefix !== 'string') throw new InvalidOptionError('prefix', 'prefix must be a string');
  // The prefix ends up in Grip-Channel next to validated names: same character rules (empty allowed).
  if (prefix !== '') assertChannelName(prefix, 64);
  const keepAliveMs =
    options.keepAlive === false ? false : positiveInteger(options, 'keepAlive', DEFAULT_KEEP_ALIVE_MS);
  const format = options.keepAliveFormat ?? 'event';
  if (format !== 'event' && format !== 'comment') {
    throw new InvalidOptionError('keepAliveFormat', "keepAliveFormat must be 'event' or 'comment'");
  }
  const maxChannelsPerRequest = positiveInteger(options, 'maxChannelsPerRequest', 20);
  const maxBufferBytes = positiveInteger(options, 'maxBufferBytes', 1024 * 1024);
  let reliable: ReliableSettings | undefined;
  if (options.reliable !== undefined && options.reliable !== false) {
    if (options.history === false) {
      throw new InvalidOptionError(
        'reliable',
        'reliable mode needs the event history: do not pass history: false',
      );
    }
    const given = options.reliable === true ? {} : options.reliable;
    if (given === null || typeof given !== 'object') {
      throw new InvalidOptionError('reliable', 'reliable must be true or { secret?, linkTimeoutSec? }');
    }
    assertKnownKeys(given, ['secret', 'linkTimeoutSec'], 'reliable.');
    const secret = given.secret ?? randomRecoverySecret();
    if (
      typeof secret === 'string' ? secret.length < 16 : !(secret instanceof Uint8Array) || secret.length < 16
    ) {
      throw new InvalidOptionError('reliable', 'reliable.secret must be a string or bytes of at least 16');
    }
    const linkTimeoutSec = integerOption('reliable.linkTimeoutSec', given.linkTimeoutSec, { min: 1 }, 120);
    reliable = { secret, linkTimeoutSec };
  }
  const name = options.name ?? 'default';
  // A metric label value and a log field: printable, bounded.
  if (typeof name !== 'string' || name === '' || name.length > 100 || /\p{Cc}/u.test(name)) {
    throw new InvalidOptionError('name', 'name must be a string of 1 to 100 printable characters');
  }
  return {
    name,
    reliable,
    prefix,
    keepAliveMs,
    keepAliveText: encodeKeepAliveEvent(format),
    maxBufferBytes,
    overload: resolveOverload(options.overload),
    presence: resolvePresence(options.presence),
    maxEventBytes: positiveInteger(options, 'maxEventBytes', maxBufferBytes),
    flushIntervalMs: durationOption('flushIntervalMs', options.flushIntervalMs, 0, {
      min: 0,
      max: MAX_FLUSH_INTERVAL_MS,
    }),
    replayTimeoutMs: positiveInteger(options, 'replayTimeoutMs', 30_000),
    maxChannelsPerRequest,
    maxChannelNameLength: positiveInteger(options, 'maxChannelNameLength', DEFAULT_MAX_CHANNEL_NAME_LENGTH),
    store: resolveStore(options.history),
    grip: resolveGrip(options.grip),
    bus: resolveBus(options.bus),
    control: resolvePart<ControlChannel>('control', options.control, 'a ControlChannel', [
      'start',
      'send',
      'close',
    ]),
    state: resolvePart<SharedState>('state', options.state, 'a SharedState', [
      'put',
      'compareAndSet',
      'get',
      'delete',
      'entries',
      'count',
      'close',
    ]),
  };
}

function resolveStore(history: EventsOptions['history']): EventStore | undefined {
  if (history === false) return undefined;
  if (history === undefined) return new MemoryStore();
  if (history === null || typeof history !== 'object') {
    throw new InvalidOptionError('history', 'history must be an EventStore, store options, or false');
  }
  const candidate = history as Partial<EventStore>;
  if (typeof candidate.append === 'function') {
    for (const method of ['epoch', 'readAfter'] as const) {
      if (typeof candidate[method] !== 'function') {
        throw new InvalidOptionError('history', `history store is missing ${method}()`);
      }
    }
    return history as EventStore;
  }
  assertKnownKeys(
    history,
    ['maxEventsPerChannel', 'maxAgeMs', 'idempotencyWindowMs', 'maxIdempotencyKeys'],
    'history.',
  );
  return new MemoryStore(history as MemoryStoreOptions);
}

function resolveBus(bus: unknown): EventBus | undefined {
  return resolvePart<EventBus>('bus', bus, 'an EventBus', [
    'start',
    'publish',
    'subscribe',
    'unsubscribe',
    'close',
  ]);
}

/** An engine part given as an option: an object with every method of its interface. */
function resolvePart<T>(key: string, part: unknown, what: string, methods: readonly string[]): T | undefined {
  if (part === undefined) return undefined;
  if (part === null || typeof part !== 'object') throw new InvalidOptionError(key, `${key} must be ${what}`);
  for (const method of methods) {
    if (typeof (part as Record<string, unknown>)[method] !== 'function') {
      throw new InvalidOptionError(key, `${key} is missing ${method}()`);
    }
  }
  return part as T;
}
