import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant } from '../../db/devices/registry.ts';
import { listTelemetryPartitions, type RetentionResult } from '../../db/partitions.ts';
import {
  type JobTimers,
  type RetentionRun,
  TelemetryRetentionJob,
} from '../../db/telemetry/retention-job.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from './helpers.ts';

const at = (iso: string): number => Date.parse(iso);
const DAY = 86_400_000;

/** Timers the test fires by hand. */
function fakeTimers() {
  const pending = new Map<number, { fn: () => void; ms: number }>();
  let next = 1;
  const timers: JobTimers = {
    setTimeout(fn, ms) {
      const id = next++;
      pending.set(id, { fn, ms });
      return id;
    },
    clearTimeout(handle) {
      pending.delete(handle as number);
    },
  };
  return {
    timers,
    pending,
    /** Fires the (only) scheduled timer; returns its delay. */
    fire(): number {
      const [id, t] = [...pending][0]!;
      pending.delete(id);
      t.fn();
      return t.ms;
    },
  };
}

const EMPTY: RetentionResult = { retentionDays: 365, droppedPartitions: [], deletedRows: 0 };
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('TelemetryRetentionJob schedule', () => {
  it('runs at start, then every interval, with the injected clock', async () => {
    let now = at('2026-03-15T00:00:00Z');
    const calls: Array<[string, number | undefined, number | undefined]> = [];
    const timers = fakeTimers();
    const runs: RetentionRun[] = [];
    const job = new TelemetryRetentionJob({} as never, {
      now: () => now,
      timers: timers.timers,
      intervalMs: DAY,
      partitions: { monthsAhead: 4 },
      onRun: (r) => runs.push(r),
      ensurePartitions: async (_pool, o) => {
        calls.push(['ensure', o?.now, o?.monthsAhead]);
        return { created: ['telemetry_p202607'] };
      },
      applyRetention: async (_pool, o) => {
        calls.push(['retain', o?.now, undefined]);
        return EMPTY;
      },
    });
    const first = await job.start();
    expect(first).toEqual({
      at: now,
      created: ['telemetry_p202607'],
      retention: EMPTY,
      error: undefined,
    });
    expect(calls).toEqual([
      ['ensure', at('2026-03-15T00:00:00Z'), 4],
      ['retain', at('2026-03-15T00:00:00Z'), undefined],
    ]);
    expect([...timers.pending.values()].map((t) => t.ms)).toEqual([DAY]);
    now += DAY;
    expect(timers.fire()).toBe(DAY);
    await tick();
    expect(calls.slice(2)).toEqual([
      ['ensure', at('2026-03-16T00:00:00Z'), 4],
      ['retain', at('2026-03-16T00:00:00Z'), undefined],
    ]);
    expect(job.runs).toBe(2);
    expect(runs).toHaveLength(2);
    expect(timers.pending.size).toBe(1);
    await job.stop();
    expect(timers.pending.size).toBe(0);
  });

  it('retries a failed run sooner, and still applies retention when partitioning failed', async () => {
    const timers = fakeTimers();
    let failEnsure = true;
    let retained = 0;
    const job = new TelemetryRetentionJob({} as never, {
      timers: timers.timers,
      intervalMs: DAY,
      retryMs: 60_000,
      ensurePartitions: async () => {
        if (failEnsure) throw new Error('lock timeout');
        return { created: [] };
      },
      applyRetention: async () => {
        retained++;
        return EMPTY;
      },
    });
    const first = await job.start();
    expect(first.error?.message).toBe('lock timeout');
    expect(retained).toBe(1);
    expect(job.failures).toBe(1);
    expect([...timers.pending.values()].map((t) => t.ms)).toEqual([60_000]);
    failEnsure = false;
    timers.fire();
    await tick();
    expect(job.lastRun?.error).toBeUndefined();
    expect([...timers.pending.values()].map((t) => t.ms)).toEqual([DAY]);
    await job.stop();
  });

  it('does not overlap runs', async () => {
    let release!: () => void;
    let ensures = 0;
    const job = new TelemetryRetentionJob({} as never, {
      timers: fakeTimers().timers,
      ensurePartitions: async () => {
        ensures++;
        await new Promise<void>((r) => {
          release = r;
        });
        return { created: [] };
      },
      applyRetention: async () => EMPTY,
    });
    const a = job.runNow();
    const b = job.runNow();
    await tick();
    release();
    expect(await a).toBe(await b);
    expect(ensures).toBe(1);
  });
});

describe('TelemetryRetentionJob on PostgreSQL', () => {
  let db: MigratedTestDatabase;
  beforeAll(async () => {
    db = await createMigratedTestDatabase('postgres');
  });
  afterAll(() => db?.drop());

  it('creates partitions ahead and drops expired ones as its clock moves', async () => {
    await createTenant(db.pool, { id: 'acme', telemetryRetentionDays: 30 });
    let now = at('2026-03-15T12:00:00Z');
    const timers = fakeTimers();
    let invalidated = 0;
    const job = new TelemetryRetentionJob(db.pool, {
      now: () => now,
      timers: timers.timers,
      partitions: { monthsAhead: 3 },
      onRun: () => invalidated++,
    });
    const first = await job.start();
    expect(first.created).toEqual([
      'telemetry_p202602',
      'telemetry_p202603',
      'telemetry_p202604',
      'telemetry_p202605',
      'telemetry_p202606',
    ]);
    expect(first.retention?.droppedPartitions).toEqual([]);
    now = at('2026-06-20T12:00:00Z');
    timers.fire();
    for (let i = 0; i < 200 && job.runs < 2; i++) await tick();
    expect(job.lastRun?.error).toBeUndefined();
    expect(job.lastRun?.created).toEqual([
      'telemetry_p202607',
      'telemetry_p202608',
      'telemetry_p202609',
    ]);
    expect(job.lastRun?.retention?.droppedPartitions).toEqual([
      'telemetry_p202602',
      'telemetry_p202603',
      'telemetry_p202604',
    ]);
    expect((await listTelemetryPartitions(db.pool)).map((p) => p.name)).toEqual([
      'telemetry_p202605',
      'telemetry_p202606',
      'telemetry_p202607',
      'telemetry_p202608',
      'telemetry_p202609',
    ]);
    expect(invalidated).toBe(2);
    await job.stop();
  });
});
