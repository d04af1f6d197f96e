// express-eventstream/redis: a shared history (an EventStore) and a cross-process EventBus on
// Redis. Needs the optional peer dependency `ioredis`.
// Redis' own names only: the seams it implements (`EventStore`, `EventBus`, `BusEvent`...) are
// imported from the core entry.
export { RedisBus, redisBus } from './bus.js';
export type { RedisBusOptions } from './bus-options.js';
export { type AppendOutcomeKind, RedisDataError, RedisUnavailableError } from './errors.js';
export { type RedisSetup, type RedisSetupOptions, redis } from './setup.js';
export { type RedisClient, RedisStore, type RedisStoreOptions, redisStore } from './store.js';
