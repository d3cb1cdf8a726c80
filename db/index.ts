// The db layer's public API: what nodes, the gateway and tools import.
export {
  type DevEuiResolution,
  DeviceDirectory,
  type DeviceDirectoryOptions,
  DeviceDirectoryStats,
  type DeviceResolution,
} from './devices/directory.ts';
export {
  createTenant,
  type DeviceSpec,
  type RegisterDevicesOptions,
  registerDevice,
  registerDevices,
  type SimulatedDevicesOptions,
  simulatedDevices,
  type TenantSpec,
} from './devices/registry.ts';
export {
  type DeviceConnectivity,
  type DeviceStatusUpdate,
  DeviceStatusWriter,
  type DeviceStatusWriterOptions,
  DeviceStatusWriterStats,
} from './devices/status-writer.ts';
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
export {
  registerTelemetryMetrics,
  type TelemetryMetricsSource,
  TelemetryWriterStats,
} from './telemetry/metrics.ts';
export {
  type JobTimers,
  type RetentionRun,
  TelemetryRetentionJob,
  type TelemetryRetentionJobOptions,
} from './telemetry/retention-job.ts';
export {
  type CommitCallback,
  TelemetryOutOfRangeError,
  type TelemetryRow,
  TelemetryRowError,
  TelemetryWriteError,
  type TelemetryWriteMethod,
  TelemetryWriter,
  TelemetryWriterClosedError,
  type TelemetryWriterOptions,
} from './telemetry/writer.ts';
