import type { Pool, PoolClient } from 'pg';
import { LOCK_NAMESPACE } from './migrate.ts';

/**
 * Telemetry partition maintenance: create monthly partitions ahead, drop them after retention.
 *
 * Retention design. Retention is set per tenant (tenants.telemetry_retention_days), but a monthly
 * partition holds every tenant's rows, so a partition can only be dropped once no tenant needs
 * it. Hence two steps:
 *  1. global: a partition is dropped when its whole month is older than the LONGEST tenant
 *     retention (max over tenants; `defaultRetentionDays` when there are no tenants). Cheap: a
 *     DROP TABLE, no row-by-row work, no bloat.
 *  2. per tenant: a tenant whose retention is shorter than that maximum gets its older rows
 *     DELETEd, in statements bounded to a slice of its devices (index (device_id, ts)).
 * So tenants with the longest retention keep data at most about one month beyond their
 * setting (until the month's partition goes), while shorter retentions are exact to the run.
 * Run it daily.
 *
 * Where telemetry is a TimescaleDB hypertable (see migration 0001), partitions are chunks that
 * TimescaleDB creates itself; step 1 is drop_chunks(older_than => cutoff) and step 2 is the same.
 *
 * Partitions are UTC calendar months named telemetry_pYYYYMM. There is deliberately no DEFAULT
 * partition: rows outside the covered range fail to insert instead of piling up in a partition
 * that would make every later CREATE scan it. The ingest path must reject timestamps outside
 * `coveredRange()` (a device with a broken clock) and count them.
 */

export const PARTITION_LOCK = 2;
const DAY_MS = 86_400_000;

export type TelemetryLayout = 'partitioned' | 'hypertable';

export interface TimescaleStatus {
  /** The extension's files are on the server (pg_available_extensions). */
  readonly available: boolean;
  /** The extension is created in this database. */
  readonly installed: boolean;
  /** It is in shared_preload_libraries, which CREATE EXTENSION timescaledb needs. */
  readonly preloaded: boolean;
}

export interface TelemetryPartition {
  readonly name: string;
  /** Inclusive lower bound, ms since epoch. */
  readonly from: number;
  /** Exclusive upper bound, ms since epoch. */
  readonly to: number;
}

export async function timescaleStatus(pool: Pool | PoolClient): Promise<TimescaleStatus> {
  const { rows } = await pool.query<{ available: boolean; installed: boolean; preload: string }>(
    `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available,
            EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS installed,
            coalesce(current_setting('shared_preload_libraries', true), '') AS preload`,
  );
  const row = rows[0]!;
  return {
    available: row.available,
    installed: row.installed,
    preloaded: row.preload.includes('timescaledb'),
  };
}

/** How the telemetry table is stored in this database. */
export async function telemetryLayout(pool: Pool | PoolClient): Promise<TelemetryLayout> {
  const { rows } = await pool.query<{ relkind: string }>(
    `SELECT c.relkind::text AS relkind FROM pg_class c WHERE c.oid = to_regclass('telemetry')`,
  );
  const relkind = rows[0]?.relkind;
  if (relkind === undefined) throw new Error('table telemetry does not exist: run migrations');
  if (relkind === 'p') return 'partitioned';
  const ts = await timescaleStatus(pool);
  if (ts.installed) {
    const hyper = await pool.query(
      `SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'telemetry'`,
    );
    if (hyper.rowCount !== 0) return 'hypertable';
  }
  throw new Error(`telemetry is neither partitioned nor a hypertable (relkind ${relkind})`);
}

/** First instant of the UTC month `monthOffset` months after the month containing `at`. */
export function monthStart(at: number, monthOffset = 0): number {
  const d = new Date(at);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + monthOffset, 1);
}

export function partitionName(monthStartMs: number): string {
  const d = new Date(monthStartMs);
  return `telemetry_p${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The range partitions of telemetry with their bounds (DEFAULT / unbounded ones are left out). */
export async function listTelemetryPartitions(pool: Pool): Promise<TelemetryPartition[]> {
  const client = await pool.connect();
  try {
    return await listPartitions(client, false);
  } finally {
    client.release();
  }
}

async function listPartitions(
  client: PoolClient,
  inTransaction: boolean,
): Promise<TelemetryPartition[]> {
  // pg_get_expr prints bounds in the session's TimeZone and DateStyle: pin both for parsing.
  // SET LOCAL needs a transaction; the caller's open transaction is reused.
  const own = !inTransaction;
  if (own) await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'`);
    const { rows } = await client.query<{ name: string; bound: string }>(
      `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = to_regclass('telemetry')`,
    );
    if (own) await client.query('COMMIT');
    const out: TelemetryPartition[] = [];
    for (const row of rows) {
      const m = /FROM \('([^']+)'\) TO \('([^']+)'\)/.exec(row.bound);
      if (m === null) continue;
      const from = parsePgUtc(m[1]!);
      const to = parsePgUtc(m[2]!);
      if (Number.isFinite(from) && Number.isFinite(to)) out.push({ name: row.name, from, to });
    }
    return out.sort((a, b) => a.from - b.from);
  } catch (err) {
    if (own) await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** '2026-01-01 00:00:00+00' (ISO DateStyle, UTC) -> ms. */
function parsePgUtc(text: string): number {
  return Date.parse(`${text.replace(' ', 'T').replace(/\+00$/, '')}Z`);
}

export interface EnsurePartitionsOptions {
  /** Months after the current one to create; default 3. */
  monthsAhead?: number;
  /** Months before the current one to create (late, buffered data); default 1. */
  monthsBehind?: number;
  /** "Now" in ms; default Date.now(). */
  now?: number;
  /** Give up (and retry on the next run) rather than queue behind long queries; default 5 s. */
  lockTimeoutMs?: number;
  log?: (message: string) => void;
}

/**
 * Makes sure the monthly partitions from `monthsBehind` before to `monthsAhead` after the current
 * month exist. Safe to run from several nodes at once. No-op on a hypertable.
 */
export async function ensureTelemetryPartitions(
  pool: Pool,
  options: EnsurePartitionsOptions = {},
): Promise<{ created: string[] }> {
  const { monthsAhead = 3, monthsBehind = 1, now = Date.now(), lockTimeoutMs = 5000 } = options;
  const client = await pool.connect();
  let broken = false;
  try {
    if ((await telemetryLayout(client)) === 'hypertable') return { created: [] };
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, PARTITION_LOCK]);
      await client.query(`SET LOCAL lock_timeout = ${Math.max(0, Math.trunc(lockTimeoutMs))}`);
      const existing = await listPartitions(client, true);
      const created: string[] = [];
      for (let offset = -monthsBehind; offset <= monthsAhead; offset++) {
        const from = monthStart(now, offset);
        const to = monthStart(now, offset + 1);
        if (existing.some((p) => p.from < to && p.to > from)) continue;
        const name = partitionName(from);
        await client.query(
          `CREATE TABLE ${name} PARTITION OF telemetry FOR VALUES FROM ('${new Date(from).toISOString()}') TO ('${new Date(to).toISOString()}')`,
        );
        created.push(name);
      }
      await client.query('COMMIT');
      if (created.length > 0) options.log?.(`created telemetry partitions ${created.join(', ')}`);
      return { created };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    }
  } finally {
    client.release(broken);
  }
}

/** The contiguous time range [from, to) around `now` that telemetry partitions cover, if any. */
export async function coveredRange(
  pool: Pool,
  now: number = Date.now(),
): Promise<{ from: number; to: number } | undefined> {
  if ((await telemetryLayout(pool)) === 'hypertable') {
    return { from: Number.NEGATIVE_INFINITY, to: Number.POSITIVE_INFINITY };
  }
  const parts = await listTelemetryPartitions(pool);
  const at = parts.findIndex((p) => p.from <= now && now < p.to);
  if (at < 0) return undefined;
  let from = parts[at]!.from;
  let to = parts[at]!.to;
  for (let i = at - 1; i >= 0 && parts[i]!.to === from; i--) from = parts[i]!.from;
  for (let i = at + 1; i < parts.length && parts[i]!.from === to; i++) to = parts[i]!.to;
  return { from, to };
}

export interface RetentionOptions {
  /** "Now" in ms; default Date.now(). */
  now?: number;
  /** Global retention when no tenant exists; default 365 days. */
  defaultRetentionDays?: number;
  /** Devices per DELETE statement in the per-tenant step; default 500. */
  devicesPerStatement?: number;
  /** Lock wait limit for dropping a partition (it locks telemetry briefly); default 5 s. */
  lockTimeoutMs?: number;
  log?: (message: string) => void;
}

export interface RetentionResult {
  /** The global retention applied to partitions (max over tenants). */
  readonly retentionDays: number;
  readonly droppedPartitions: readonly string[];
  /** Rows deleted by the per-tenant step. */
  readonly deletedRows: number;
}

/** Applies telemetry retention; see the module comment for the design. */
export async function applyTelemetryRetention(
  pool: Pool,
  options: RetentionOptions = {},
): Promise<RetentionResult> {
  const {
    now = Date.now(),
    defaultRetentionDays = 365,
    devicesPerStatement = 500,
    lockTimeoutMs = 5000,
  } = options;
  const log = options.log ?? (() => {});
  const layout = await telemetryLayout(pool);
  const { rows: tenants } = await pool.query<{ id: string; days: number }>(
    'SELECT id, telemetry_retention_days AS days FROM tenants ORDER BY id',
  );
  const retentionDays =
    tenants.reduce((max, t) => Math.max(max, t.days), 0) || defaultRetentionDays;
  const globalCutoff = now - retentionDays * DAY_MS;

  const droppedPartitions: string[] = [];
  if (layout === 'partitioned') {
    for (const p of await listTelemetryPartitions(pool)) {
      if (p.to > globalCutoff) continue;
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SET LOCAL lock_timeout = ${Math.max(0, Math.trunc(lockTimeoutMs))}`);
        await client.query(`DROP TABLE ${quoteIdent(p.name)}`);
        await client.query('COMMIT');
        droppedPartitions.push(p.name);
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    }
  } else {
    const { rows } = await pool.query<{ chunk: string }>(
      `SELECT drop_chunks('telemetry', older_than => $1::timestamptz)::text AS chunk`,
      [new Date(globalCutoff).toISOString()],
    );
    for (const r of rows) droppedPartitions.push(r.chunk);
  }
  if (droppedPartitions.length > 0) {
    log(`telemetry retention ${retentionDays} d: dropped ${droppedPartitions.join(', ')}`);
  }

  let deletedRows = 0;
  for (const tenant of tenants) {
    if (tenant.days >= retentionDays) continue;
    const cutoff = new Date(now - tenant.days * DAY_MS).toISOString();
    const { rows: devices } = await pool.query<{ id: string }>(
      'SELECT id FROM devices WHERE tenant_id = $1 ORDER BY id',
      [tenant.id],
    );
    let deleted = 0;
    for (let i = 0; i < devices.length; i += devicesPerStatement) {
      const ids = devices.slice(i, i + devicesPerStatement).map((d) => d.id);
      const res = await pool.query(
        'DELETE FROM telemetry WHERE device_id = ANY($1::bigint[]) AND ts < $2::timestamptz',
        [ids, cutoff],
      );
      deleted += res.rowCount ?? 0;
    }
    if (deleted > 0) log(`telemetry retention ${tenant.days} d for ${tenant.id}: ${deleted} rows`);
    deletedRows += deleted;
  }
  return { retentionDays, droppedPartitions, deletedRows };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
