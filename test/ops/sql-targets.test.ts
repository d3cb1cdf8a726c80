import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTelemetryPartitions } from '../../db/partitions.ts';
import { ALL_DEVICES } from '../../grafana/src/dashboards/telemetry-trends.ts';
import { ALL_GROUPS } from '../../grafana/src/sql.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';
import { sqlQueries } from './dashboard-queries.ts';
import { type ExpandContext, expandPostgresMacros, expandSql } from './grafana-expand.ts';
import { deviceKey, SEED, seedDashboardData } from './seed.ts';

/**
 * Every SQL query of every dashboard (panel targets and variables), with Grafana's variables and
 * macros expanded, runs against a migrated PostgreSQL seeded with a tenant's history, and returns
 * rows where the seed put data. Queries also run for one group and device, and for a tenant with
 * no data (no error, rows not required).
 */

const QUERIES = sqlQueries();
const now = new Date();
let db: MigratedTestDatabase;
let groupIds: string[];
let timescale = false;

beforeAll(async () => {
  db = await createMigratedTestDatabase();
  await ensureTelemetryPartitions(db.pool, { now: now.getTime(), monthsBehind: 1 });
  ({ groupIds } = await seedDashboardData(db.pool, now));
  const { rows } = await db.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'",
  );
  timescale = rows[0]?.n === 1;
});
afterAll(() => db?.drop());

function context(variables: Record<string, string>, timescaledb = false): ExpandContext {
  return {
    from: new Date(now.getTime() - 7 * 86_400_000),
    to: now,
    intervalMs: 300_000,
    timescaledb,
    variables: {
      tenant: SEED.tenant,
      group: ALL_GROUPS,
      device: ALL_DEVICES,
      metric: SEED.metric,
      bucket: timescaledb ? 'time_bucket' : 'date_bin',
      battery_low: '20',
      ...variables,
    },
  };
}

async function run(sql: string) {
  const client = await db.pool.connect();
  try {
    // A guard against a query that would scan forever, not a performance assertion.
    await client.query("SET statement_timeout = '20s'");
    return await client.query({ text: sql, rowMode: 'array' });
  } finally {
    client.release();
  }
}

function checkShape(format: string, fields: readonly string[], rows: unknown[][]): void {
  if (format === 'time_series') {
    // Grafana's time_series format needs a time column and rows in time order.
    const t = fields.indexOf('time');
    expect(fields).toContain('time');
    const times = rows.map((r) => {
      const v = r[t];
      return v instanceof Date ? v.getTime() : Number(v);
    });
    expect(times).toEqual([...times].sort((a, b) => a - b));
  }
  if (format === 'variable' && (fields.includes('__text') || fields.includes('__value'))) {
    expect(fields).toEqual(expect.arrayContaining(['__text', '__value']));
  }
}

describe('dashboard SQL on a seeded database', () => {
  it('finds every query the dashboards hold', () => {
    expect(QUERIES.length).toBeGreaterThan(40);
  });

  it('variables offer the seeded tenant, groups, devices and metrics', async () => {
    const values = async (name: string, vars: Record<string, string> = {}) => {
      const q = QUERIES.find((x) => x.where === `variable $${name}`)!;
      const result = await run(expandSql(q.query.sql, context(vars)));
      const col = result.fields.findIndex((f) => f.name === '__value');
      return result.rows.map((r) => String(r[col === -1 ? 0 : col]));
    };
    expect(await values('tenant')).toEqual([SEED.tenant, SEED.emptyTenant]);
    expect(await values('group')).toEqual([ALL_GROUPS, ...groupIds]);
    expect(await values('device', { group: groupIds[0]! })).toEqual([
      ALL_DEVICES,
      ...[1, 2, 3, 4, 5, 6].map(deviceKey),
    ]);
    expect(await values('metric')).toEqual(['humidity', 'temperature']);
    expect(await values('bucket')).toEqual([timescale ? 'time_bucket' : 'date_bin']);
  });

  for (const q of QUERIES) {
    const title = `${q.dashboard}: ${q.where}`;
    it(`${title} returns rows for the seeded tenant`, async () => {
      const result = await run(expandSql(q.query.sql, context({})));
      expect(result.rows.length).toBeGreaterThan(0);
      checkShape(
        q.query.format,
        result.fields.map((f) => f.name),
        result.rows,
      );
    });
    it(`${title} runs for one group and device, and for an empty tenant`, async () => {
      const scenarios: Array<Record<string, string>> = [
        { group: groupIds[0]!, device: deviceKey(1) },
        { group: groupIds[1]!, metric: 'door' },
        { tenant: SEED.emptyTenant },
      ];
      for (const vars of scenarios) {
        const result = await run(expandSql(q.query.sql, context(vars)));
        checkShape(
          q.query.format,
          result.fields.map((f) => f.name),
          result.rows,
        );
      }
    });
  }

  it('expands time groups to time_bucket when the TimescaleDB switch is on', () => {
    const ctx = context({}, true);
    expect(expandPostgresMacros('SELECT $__timeGroupAlias(ts, 5m)', ctx)).toBe(
      `SELECT time_bucket('300.000s',ts) AS "time"`,
    );
    expect(expandPostgresMacros('SELECT $__timeGroup(ts, 1h)', context({}))).toBe(
      'SELECT floor(extract(epoch from ts)/3600)*3600',
    );
    expect(() => expandSql('SELECT $__timeFilter(ts) AND $tenat', ctx)).toThrow(/\$tenat/);
  });

  it('runs the time_bucket variant (TimescaleDB, or a stand-in with its semantics here)', async () => {
    // TimescaleDB cannot be installed on this machine: without it, time_bucket is defined as
    // date_bin with TimescaleDB's default origin (a Monday, 2000-01-03), so the variant's SQL
    // still runs here, against the same seeded data, and must return the same rows.
    if (!timescale) {
      await db.pool.query(
        `CREATE FUNCTION time_bucket(bucket_width interval, ts timestamptz) RETURNS timestamptz
           LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin(bucket_width, ts, timestamptz '2000-01-03') $$;
         CREATE FUNCTION time_bucket(bucket_width interval, ts timestamptz, origin timestamptz)
           RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin(bucket_width, ts, origin) $$`,
      );
    }
    try {
      for (const q of QUERIES) {
        const plain = await run(expandSql(q.query.sql, context({})));
        const bucketed = await run(expandSql(q.query.sql, context({}, true)));
        expect(bucketed.rows.length, `${q.dashboard}: ${q.where}`).toBe(plain.rows.length);
      }
    } finally {
      if (!timescale) {
        await db.pool.query(
          `DROP FUNCTION time_bucket(interval, timestamptz);
           DROP FUNCTION time_bucket(interval, timestamptz, timestamptz)`,
        );
      }
    }
  });
});
