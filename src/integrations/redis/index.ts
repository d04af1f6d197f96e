// express-eventstream/redis: the engine on Redis — a shared history (an EventStore), a
// cross-process EventBus, control messages and shared state. Needs the optional peer dependency
// `ioredis`.
// Redis' own names only: the seams it implements (`EventStore`, `EventBus`, `BusEvent`...) are
// imported from the core entry.
export { RedisBus, redisBus } from './bus.js';
export type { RedisBusOptions } from './bus-options.js';
export { RedisControl, type RedisControlOptions, redisControl } from './control.js';
export { type AppendOutcomeKind, RedisDataError, RedisUnavailableError } from './errors.js';
export { type RedisSetup, type RedisSetupOptions, redis } from './setup.js';
export { RedisState, type RedisStateOptions, redisState } from './state.js';
export { type RedisClient, RedisStore, type RedisStoreOptions, redisStore } from './store.js';
