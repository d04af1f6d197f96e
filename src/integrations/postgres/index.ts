// express-eventstream/postgres: the engine on PostgreSQL — a shared history (an EventStore) with
// transactional publish, a cross-process EventBus, control messages and shared state. Needs the optional peer dependency `pg`.
// Postgres' own names only: the seams it implements are imported from the core entry.
export { PostgresBus, type PostgresBusOptions, postgresBus } from './bus.js';
export { PostgresControl, type PostgresControlOptions, postgresControl } from './control.js';
export { type PostgresAppendOutcome, PostgresDataError, PostgresUnavailableError } from './errors.js';
export { migrationSql } from './schema.js';
export { type PostgresSetup, type PostgresSetupOptions, postgres } from './setup.js';
export { PostgresState, type PostgresStateOptions, postgresState } from './state.js';
export {
  PostgresStore,
  type PostgresStoreOptions,
  postgresStore,
  type TransactionClient,
} from './store.js';
