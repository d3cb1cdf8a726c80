import type { Pool } from 'pg';
import { type MigrateResult, migrate } from './migrate.ts';
import { ensureTelemetryPartitions } from './partitions.ts';

export interface PrepareOptions {
  log?: (message: string) => void;
  /** Telemetry partitions to keep ready after the current month; default 3. */
  monthsAhead?: number;
}

/**
 * What a node runs at start (and `npm run db:migrate` runs): apply pending migrations, then make
 * sure the telemetry partitions around now exist. Safe when several nodes start at once.
 */
export async function prepareDatabase(
  pool: Pool,
  options: PrepareOptions = {},
): Promise<MigrateResult & { createdPartitions: string[] }> {
  const result = await migrate(pool, { log: options.log });
  const { created } = await ensureTelemetryPartitions(pool, {
    monthsAhead: options.monthsAhead,
    log: options.log,
  });
  return { ...result, createdPartitions: created };
}
