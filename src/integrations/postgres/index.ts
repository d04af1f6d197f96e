// express-eventstream/postgres: a shared history (an EventStore) with transactional publish and a
// cross-process EventBus on PostgreSQL. Needs the optional peer dependency `pg`.
// Postgres' own names only: the seams it implements are imported from the core entry.
export { PostgresBus, type PostgresBusOptions, postgresBus } from './bus.js';
export { type PostgresAppendOutcome, PostgresDataError, PostgresUnavailableError } from './errors.js';
export { migrationSql } from './schema.js';
export { type PostgresSetup, type PostgresSetupOptions, postgres } from './setup.js';
export {
  PostgresStore,
  type PostgresStoreOptions,
  postgresStore,
  type TransactionClient,
} from './store.js';
