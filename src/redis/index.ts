// express-eventstream/redis: a shared history (EventStore v2) and a cross-process EventBus on
// Redis. Needs the optional peer dependency `ioredis`.
export { RedisBus, redisBus } from './bus.js';
export { encodeBusEvent, type RedisBusOptions } from './bus-options.js';
export { RedisUnavailableError } from './errors.js';
export { type RedisOptions, type RedisSetup, redis } from './setup.js';
export { FAIL_FAST, type RedisClient, RedisStore, type RedisStoreOptions, redisStore } from './store.js';
export type {
  AppendResult,
  BusEvent,
  BusSink,
  ChainedRecord,
  EventBus,
  EventStoreV2,
  ReadResult,
  StoredRecord,
} from './types.js';
