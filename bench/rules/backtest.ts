/**
 * `rules.backtest`: readings evaluated per second per worker thread by runBacktest
 * (actors/rules/backtest/run.ts) over recorded telemetry: D devices x R readings (one a minute)
 * seeded into the telemetry table, one threshold rule over the tenant, replayed with
 * workerThreshold 0 (piscina worker threads; on 2 cores the pool has one) and, for comparison,
 * inline on the main thread (workerThreshold Infinity). Each timed run reads the readings from
 * PostgreSQL, parses them and replays them: all of that is in the figure.
 */
import { closeBacktestPool, runBacktest } from '../../actors/rules/backtest/run.ts';
import type { Rule } from '../../actors/rules/model.ts';
import { createTenant, registerDevices } from '../../db/devices/registry.ts';
import { devicesInScope } from '../../db/devices/scope.ts';
import { ensureTelemetryPartitions } from '../../db/partitions.ts';
import { readTelemetry } from '../../db/telemetry/replay.ts';
import { type BenchLine, log, round, sig } from '../lib/report.ts';
import type { ScratchDatabase } from './lib.ts';

const TENANT = 'bt';
const MIN = 60_000;

export interface BacktestBenchOptions {
  readonly quick: boolean;
  /** rules.eval.1rules (msg/s on the main thread), when the eval bench ran: the baseline. */
  readonly evalOneRuleRate?: number;
}

interface Run {
  readonly seconds: number;
  readonly readings: number;
  readonly threads: number;
  readonly mode: string;
  readonly alerts: number;
}

export async function runBacktestBench(
  db: ScratchDatabase,
  options: BacktestBenchOptions,
): Promise<BenchLine[]> {
  const devices = options.quick ? 200 : 1_000;
  const perDevice = options.quick ? 300 : 720;
  const rounds = options.quick ? 1 : 3;
  // Whole minutes, ending an hour ago: inside partitions that exist (ensured below).
  const to = Math.floor((Date.now() - 3_600_000) / MIN) * MIN;
  const from = to - perDevice * MIN;
  await ensureTelemetryPartitions(db.pool, { now: from, monthsBehind: 1, monthsAhead: 1 });
  await createTenant(db.pool, { id: TENANT });
  await registerDevices(
    db.pool,
    TENANT,
    Array.from({ length: devices }, (_, i) => ({ key: `b${String(i).padStart(5, '0')}` })),
  );
  const s0 = performance.now();
  // Server-side multi-row insert: temperature swings between 5 and 35 (crossing the rule's 30).
  await db.pool.query(
    `INSERT INTO telemetry (device_id, ts, metrics)
     SELECT d.id, timestamptz 'epoch' + ($2::bigint + m * 60000) * interval '1 millisecond',
            jsonb_build_object('temperature', round((20 + 15 * sin(m / 40.0 + d.id))::numeric, 1),
                               'humidity', 40 + (m + d.id) % 30)
       FROM devices d, generate_series(0, $3::int - 1) AS m
      WHERE d.tenant_id = $1`,
    [TENANT, from, perDevice],
  );
  await db.pool.query('ANALYZE telemetry');
  const total = devices * perDevice;
  log(
    `backtest: seeded ${devices} devices x ${perDevice} readings = ${total} rows in ${Math.round(performance.now() - s0)} ms`,
  );

  const rule: Rule = {
    id: '0',
    tenantId: TENANT,
    version: 1,
    name: 'bench: hot',
    scope: { type: 'tenant' },
    condition: { metric: 'temperature', op: '>', value: 30 },
    severity: 'major',
  };
  const run = async (workerThreshold: number, range = { from, to }): Promise<Run> => {
    const t0 = performance.now();
    const r = await runBacktest({
      pool: db.pool,
      databaseUrl: db.url,
      rule,
      from: range.from,
      to: range.to,
      workerThreshold,
    });
    return {
      seconds: (performance.now() - t0) / 1000,
      readings: r.readings,
      threads: r.threads.length,
      mode: r.mode,
      alerts: r.alerts.length,
    };
  };

  try {
    // Warm-up: starts the worker thread (tsx loader, modules) and JITs both paths on an hour.
    await run(0, { from, to: from + 60 * MIN });
    await run(Number.POSITIVE_INFINITY, { from, to: from + 60 * MIN });
    const workers: Run[] = [];
    const inline: Run[] = [];
    for (let i = 0; i < rounds; i++) {
      workers.push(await run(0));
      inline.push(await run(Number.POSITIVE_INFINITY));
    }
    // Diagnostics: the database read alone (same chunks, same query, main thread), no replay.
    const ids = (await devicesInScope(db.pool, TENANT, rule.scope)).map((d) => d.id);
    const readStart = performance.now();
    let read = 0;
    for (let i = 0; i < ids.length; i += 100) {
      for (const list of (await readTelemetry(db.pool, ids.slice(i, i + 100), from, to)).values()) {
        read += list.length;
      }
    }
    const readOnlyRate = read / ((performance.now() - readStart) / 1000);
    for (const r of [...workers, ...inline]) {
      if (r.readings !== total) throw new Error(`backtest read ${r.readings} of ${total} readings`);
    }
    const perWorker = (r: Run) => r.readings / r.seconds / r.threads;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const value = median(workers.map(perWorker));
    const inlineRate = median(inline.map((r) => r.readings / r.seconds));
    const threads = workers[0]!.threads;
    log(
      `rules.backtest: workers ${workers.map((r) => `${sig(r.seconds, 3)} s (${r.threads} thread(s), ${r.mode})`).join(', ')}; inline ${inline.map((r) => `${sig(r.seconds, 3)} s`).join(', ')}; ${workers[0]!.alerts} alerts`,
    );
    const evalRate = options.evalOneRuleRate;
    const baseline =
      evalRate === undefined
        ? {
            baseline:
              'the same backtest inline on the main thread (workerThreshold Infinity), same run',
            baselineValue: Math.round(inlineRate),
          }
        : {
            baseline:
              'rules.eval.1rules of this run: evaluation alone on one core (no database, no parsing)',
            baselineValue: Math.round(evalRate),
          };
    return [
      {
        bench: 'rules.backtest',
        value: Math.round(value),
        unit: 'readings/s per worker',
        ...baseline,
        ratio: round(value / baseline.baselineValue, 3),
        threads,
        inlineReadingsPerSec: Math.round(inlineRate),
        readOnlyReadingsPerSec: Math.round(readOnlyRate),
        workerRounds: workers.map((r) => Math.round(perWorker(r))),
        inlineRounds: inline.map((r) => Math.round(r.readings / r.seconds)),
        readings: total,
        devices,
        alerts: workers[0]!.alerts,
        note: `runBacktest over ${devices} devices x ${perDevice} readings (one a minute, {temperature, humidity}) seeded into telemetry, rule {scope tenant, temperature > 30}; workerThreshold 0: piscina pool of ${threads} worker thread(s) (availableParallelism - 1), chunks of 100 devices, each reading its chunk from PostgreSQL (keyset pages of 20,000) and replaying it; value = readings / wall seconds / threads, median of ${rounds} round(s) after a warm-up on one hour (thread start not timed); inline on the main thread (workerThreshold Infinity): ${Math.round(inlineRate)} readings/s; the read alone (readTelemetry, same chunks, main thread, no replay): ${Math.round(readOnlyRate)} readings/s`,
      },
    ];
  } finally {
    await closeBacktestPool();
  }
}
