import { threadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeBacktestPool, runBacktest } from '../../actors/rules/backtest/run.ts';
import type { Rule, RuleDefinition } from '../../actors/rules/model.ts';
import { createTenant, registerDevices } from '../../db/devices/registry.ts';
import { ensureTelemetryPartitions } from '../../db/partitions.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';

let db: MigratedTestDatabase;
const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 2, 8, 0); // a Monday, 08:00 UTC
const DEVICES = 60;

beforeAll(async () => {
  db = await createMigratedTestDatabase();
  await ensureTelemetryPartitions(db.pool, { now: T0, monthsBehind: 1, monthsAhead: 1 });
  await createTenant(db.pool, { id: 'acme' });
  const ids = await registerDevices(
    db.pool,
    'acme',
    Array.from({ length: DEVICES }, (_, i) => ({ key: `d${String(i).padStart(2, '0')}` })),
  );
  // One reading a minute for two hours. Device d00 runs hot from minute 10 to 20; devices d01-d04
  // run hot from minute 60 to 70 (d01 until 75); everyone else stays cool.
  const rows: string[] = [];
  ids.forEach((id, i) => {
    for (let m = 0; m < 120; m++) {
      const hot =
        (i === 0 && m >= 10 && m < 20) || (i >= 1 && i <= 4 && m >= 60 && m < (i === 1 ? 75 : 70));
      rows.push(`(${id}, to_timestamp(${(T0 + m * MIN) / 1000}), '{"temp": ${hot ? 35 : 20}}')`);
    }
  });
  await db.pool.query(`INSERT INTO telemetry (device_id, ts, metrics) VALUES ${rows.join(',')}`);
});
afterAll(async () => {
  await closeBacktestPool();
  await db.drop();
});

function rule(definition: Omit<RuleDefinition, 'name' | 'severity'>): Rule {
  return { name: 'draft', severity: 'major', ...definition, id: '0', tenantId: 'acme', version: 1 };
}

const hot = { metric: 'temp', op: '>', value: 30 } as const;

describe('backtest', () => {
  it('replays per-device alerts with their open and resolve times', async () => {
    const result = await runBacktest({
      pool: db.pool,
      databaseUrl: db.url,
      rule: rule({ scope: { type: 'device', device: 'd00' }, condition: hot }),
      from: T0,
      to: T0 + 120 * MIN,
    });
    expect(result.mode).toBe('inline');
    expect(result.readings).toBe(120);
    expect(result.alerts).toEqual([
      expect.objectContaining({
        deviceKey: 'd00',
        openedAt: T0 + 10 * MIN,
        resolvedAt: T0 + 20 * MIN,
      }),
    ]);
  });

  it('honours `for` exactly as the live evaluator does', async () => {
    const result = await runBacktest({
      pool: db.pool,
      databaseUrl: db.url,
      rule: rule({
        scope: { type: 'devices', devices: ['d00', 'd01'] },
        condition: hot,
        for: '7m',
      }),
      from: T0,
      to: T0 + 120 * MIN,
    });
    expect(result.alerts.map((a) => [a.deviceKey, a.openedAt, a.resolvedAt])).toEqual([
      ['d00', T0 + 17 * MIN, T0 + 20 * MIN],
      ['d01', T0 + 67 * MIN, T0 + 75 * MIN],
    ]);
  });

  it('replays an aggregate: 3 of the tenant breaching within the window', async () => {
    const result = await runBacktest({
      pool: db.pool,
      databaseUrl: db.url,
      rule: rule({
        scope: { type: 'tenant' },
        condition: hot,
        aggregate: { minDevices: 3, window: '2m' },
      }),
      from: T0,
      to: T0 + 120 * MIN,
    });
    expect(result.alerts).toEqual([
      expect.objectContaining({
        deviceKey: null,
        openedAt: T0 + 60 * MIN,
        resolvedAt: T0 + 72 * MIN,
        devices: ['d01', 'd02', 'd03', 'd04'],
      }),
    ]);
  });

  it('runs large backtests in worker threads, reports progress, and keeps the event loop free', async () => {
    const progress: number[] = [];
    let ticks = 0;
    let worstGap = 0;
    let last = Date.now();
    const timer = setInterval(() => {
      const now = Date.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
      ticks++;
    }, 5);
    const inline = await runBacktest({
      pool: db.pool,
      databaseUrl: db.url,
      rule: rule({ scope: { type: 'tenant' }, condition: hot }),
      from: T0,
      to: T0 + 120 * MIN,
      workerThreshold: Number.POSITIVE_INFINITY,
    });
    const viaWorkers = await runBacktest({
      pool: db.pool,
      databaseUrl: db.url,
      rule: rule({ scope: { type: 'tenant' }, condition: hot }),
      from: T0,
      to: T0 + 120 * MIN,
      chunkSize: 10,
      workerThreshold: 0,
      onProgress: (p) => progress.push(p.devicesDone),
    });
    clearInterval(timer);
    expect(viaWorkers.mode).toBe('workers');
    expect(viaWorkers.threads).not.toContain(threadId);
    expect(viaWorkers.alerts).toEqual(inline.alerts);
    expect(viaWorkers.readings).toBe(DEVICES * 120);
    expect(progress.at(-1)).toBe(DEVICES);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    // The main thread kept running its timers while the workers replayed.
    expect(ticks).toBeGreaterThan(0);
    expect(worstGap).toBeLessThan(1_000);
  });
});
