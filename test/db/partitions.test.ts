import type { Pool } from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  applyTelemetryRetention,
  coveredRange,
  ensureTelemetryPartitions,
  listTelemetryPartitions,
  monthStart,
  partitionName,
  telemetryLayout,
  timescaleStatus,
} from '../../db/partitions.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from './helpers.ts';

// Partition tests reshape the telemetry table, so each test gets its own database.
const DAY = 86_400_000;
const at = (iso: string): number => Date.parse(iso);

const dbs: MigratedTestDatabase[] = [];
let pool: Pool;

beforeEach(async () => {
  const db = await createMigratedTestDatabase();
  dbs.push(db);
  pool = db.pool;
});

afterAll(() => Promise.all(dbs.map((db) => db.drop())));

async function names(): Promise<string[]> {
  return (await listTelemetryPartitions(pool)).map((p) => p.name);
}

describe('telemetry partitions', () => {
  it('month helpers work in UTC', () => {
    expect(new Date(monthStart(at('2026-03-31T23:59:59Z'))).toISOString()).toBe(
      '2026-03-01T00:00:00.000Z',
    );
    expect(new Date(monthStart(at('2026-11-15T00:00:00Z'), 2)).toISOString()).toBe(
      '2027-01-01T00:00:00.000Z',
    );
    expect(partitionName(at('2027-01-01T00:00:00Z'))).toBe('telemetry_p202701');
  });

  it('creates the months ahead (and one behind), idempotently and from concurrent callers', async () => {
    const now = at('2026-03-15T12:00:00Z');
    const runs = await Promise.all([
      ensureTelemetryPartitions(pool, { now, monthsAhead: 3 }),
      ensureTelemetryPartitions(pool, { now, monthsAhead: 3 }),
    ]);
    const expected = [
      'telemetry_p202602',
      'telemetry_p202603',
      'telemetry_p202604',
      'telemetry_p202605',
      'telemetry_p202606',
    ];
    expect(runs.flatMap((r) => r.created).sort()).toEqual(expected);
    expect(await names()).toEqual(expected);
    const parts = await listTelemetryPartitions(pool);
    expect(parts[0]).toEqual({
      name: 'telemetry_p202602',
      from: at('2026-02-01T00:00:00Z'),
      to: at('2026-03-01T00:00:00Z'),
    });
    expect((await ensureTelemetryPartitions(pool, { now, monthsAhead: 3 })).created).toEqual([]);
    // Later, the window moves on.
    const later = await ensureTelemetryPartitions(pool, {
      now: at('2026-05-02T00:00:00Z'),
      monthsAhead: 3,
    });
    expect(later.created).toEqual(['telemetry_p202607', 'telemetry_p202608']);
    expect(await coveredRange(pool, at('2026-03-15T12:00:00Z'))).toEqual({
      from: at('2026-02-01T00:00:00Z'),
      to: at('2026-09-01T00:00:00Z'),
    });
  });

  it('routes rows to their month and refuses rows outside the covered range', async () => {
    await ensureTelemetryPartitions(pool, { now: at('2026-04-10T00:00:00Z'), monthsAhead: 1 });
    await pool.query(
      `INSERT INTO telemetry (device_id, ts, metrics) VALUES (1, '2026-04-30T23:59:59.999Z', '{"t":1}'), (1, '2026-05-01T00:00:00Z', '{"t":2}')`,
    );
    const { rows } = await pool.query(
      `SELECT tableoid::regclass::text AS part, metrics FROM telemetry WHERE device_id = 1 ORDER BY ts`,
    );
    expect(rows).toEqual([
      { part: 'telemetry_p202604', metrics: { t: 1 } },
      { part: 'telemetry_p202605', metrics: { t: 2 } },
    ]);
    await expect(
      pool.query(`INSERT INTO telemetry (device_id, ts, metrics) VALUES (1, '2031-01-01', '{}')`),
    ).rejects.toMatchObject({ code: '23514' }); // no partition of relation found for row
    // A redelivered message (same device and time) is idempotent with ON CONFLICT.
    await pool.query(
      `INSERT INTO telemetry (device_id, ts, metrics) VALUES (1, '2026-05-01T00:00:00Z', '{"h":5}')
       ON CONFLICT (device_id, ts) DO UPDATE SET metrics = telemetry.metrics || excluded.metrics`,
    );
    const merged = await pool.query(
      `SELECT metrics FROM telemetry WHERE device_id = 1 AND ts = '2026-05-01T00:00:00Z'`,
    );
    expect(merged.rows).toEqual([{ metrics: { t: 2, h: 5 } }]);
  });

  it('knows it is not on TimescaleDB here', async () => {
    const ts = await timescaleStatus(pool);
    expect(ts).toEqual({ available: false, installed: false, preloaded: false });
    expect(await telemetryLayout(pool)).toBe('partitioned');
  });
});

describe('telemetry retention', () => {
  it('drops partitions older than the longest tenant retention, deletes older rows of shorter ones', async () => {
    const now = at('2026-03-15T00:00:00Z');
    // Partitions from 2025-09 to 2026-06.
    await ensureTelemetryPartitions(pool, { now: at('2025-10-10T00:00:00Z'), monthsAhead: 8 });
    expect((await names())[0]).toBe('telemetry_p202509');

    await pool.query(
      `INSERT INTO tenants (id, name, telemetry_retention_days) VALUES ('short', 's', 30), ('long', 'l', 60)`,
    );
    const dev = async (tenant: string) =>
      (
        await pool.query<{ id: string }>(
          `INSERT INTO devices (tenant_id, external_id) VALUES ($1, 'd') RETURNING id`,
          [tenant],
        )
      ).rows[0]!.id;
    const short = await dev('short');
    const long = await dev('long');
    const days = [120, 70, 50, 40, 20, 1]; // days before now
    for (const device of [short, long]) {
      for (const d of days) {
        await pool.query(
          `INSERT INTO telemetry (device_id, ts, metrics) VALUES ($1, $2, '{"v":1}')`,
          [device, new Date(now - d * DAY).toISOString()],
        );
      }
    }

    const logs: string[] = [];
    const result = await applyTelemetryRetention(pool, { now, log: (m) => logs.push(m) });
    expect(result.retentionDays).toBe(60);
    // 60 days before 2026-03-15 is 2026-01-14: every month ending by then goes.
    expect(result.droppedPartitions).toEqual([
      'telemetry_p202509',
      'telemetry_p202510',
      'telemetry_p202511',
      'telemetry_p202512',
    ]);
    expect((await names())[0]).toBe('telemetry_p202601');
    // The 120-day-old rows went with November. 'short' keeps 30 days exactly: its 70-, 50- and
    // 40-day-old rows, in partitions that stay, are deleted.
    expect(result.deletedRows).toBe(3);
    const left = async (device: string) =>
      (
        await pool.query<{ age: number }>(
          `SELECT round(extract(epoch FROM ($2::timestamptz - ts)) / 86400)::int AS age FROM telemetry WHERE device_id = $1 ORDER BY ts`,
          [device, new Date(now).toISOString()],
        )
      ).rows.map((r) => r.age);
    expect(await left(short)).toEqual([20, 1]);
    // 'long' keeps its 60 days, and rows of the month containing its cutoff (70 days, January)
    // stay until that month's partition goes.
    expect(await left(long)).toEqual([70, 50, 40, 20, 1]);
    expect(logs.join('\n')).toContain('dropped telemetry_p202509');

    // Idempotent.
    const again = await applyTelemetryRetention(pool, { now });
    expect(again).toEqual({ retentionDays: 60, droppedPartitions: [], deletedRows: 0 });
  });

  it('without tenants the default retention applies', async () => {
    await ensureTelemetryPartitions(pool, { now: at('2026-01-10T00:00:00Z'), monthsAhead: 2 });
    const result = await applyTelemetryRetention(pool, {
      now: at('2026-04-10T00:00:00Z'),
      defaultRetentionDays: 40,
    });
    expect(result.retentionDays).toBe(40);
    // Cutoff 2026-03-01: December, January and February go; March stays.
    expect(result.droppedPartitions).toEqual([
      'telemetry_p202512',
      'telemetry_p202601',
      'telemetry_p202602',
    ]);
    expect(await names()).toEqual(['telemetry_p202603']);
  });
});
