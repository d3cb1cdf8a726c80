// The db layer's public API: what nodes, the gateway and tools import.
export {
  DEFAULT_EMBEDDED_DATA_DIR,
  type EmbeddedPostgres,
  type EmbeddedPostgresOptions,
  startEmbeddedPostgres,
} from './embedded.ts';
export {
  checksumOf,
  loadMigrations,
  type MigrateOptions,
  type MigrateResult,
  type Migration,
  MigrationError,
  migrate,
} from './migrate.ts';
export {
  applyTelemetryRetention,
  coveredRange,
  ensureTelemetryPartitions,
  listTelemetryPartitions,
  type RetentionResult,
  type TelemetryLayout,
  type TelemetryPartition,
  telemetryLayout,
  timescaleStatus,
} from './partitions.ts';
export { createPool, DEFAULT_DATABASE_URL, databaseUrlFromEnv, type PoolOptions } from './pool.ts';
export { type PrepareOptions, prepareDatabase } from './prepare.ts';
export { PostgresStateStore } from './stores/actor-state.ts';
export { PostgresDeadLetterSink } from './stores/dead-letters.ts';
export { PostgresReminderStore } from './stores/reminders.ts';
