/**
 * `npm run bench:rules` (`tsx --expose-gc bench/rules/run.ts`; `BENCH_QUICK=1` for the quick
 * mode): the alert-rule figures of issue 5 as JSON lines on stdout (bench/lib/report.ts),
 * progress on stderr.
 *
 * 1. `rules.eval.{1,10,100}rules`: per-message evaluation cost (eval.ts), against the ingest
 *    end-to-end rate recorded in BENCHMARKS.md (nothing new is measured for the baseline).
 * 2. `rules.backtest`: readings replayed per second per worker thread (backtest.ts).
 * 3. `rules.aggregate.p99`: Nth breach to alert opening, one node in process (aggregate.ts).
 * 4. `rules.aggregate_cluster.p99`: the same across three `gito node` processes, readings
 *    through Mosquitto (aggregate-cluster.ts).
 *
 * Needs PostgreSQL on 127.0.0.1:5432 (trust, user postgres; GITO_BENCH_PG_ADMIN_URL overrides),
 * Redis on 127.0.0.1:6379 and `mosquitto` on PATH. Each run creates its own databases, broker and
 * cluster name and removes them at the end, also on failure; every child process is killed.
 * RULES_BENCH_ONLY=eval,backtest,aggregate,cluster runs a subset (experiments only).
 */
import { emit, log, machineInfo, QUICK, round, sig } from '../lib/report.ts';
import { runAggregateBench } from './aggregate.ts';
import { runAggregateClusterBench } from './aggregate-cluster.ts';
import { runBacktestBench } from './backtest.ts';
import { runEvalBench } from './eval.ts';
import { createScratchDatabase, type ScratchDatabase } from './lib.ts';

/** BENCHMARKS.md, `ingest.e2e` (latest full run): MQTT QoS 1 -> Gito on one node -> PostgreSQL. */
const INGEST_E2E = 45_151;
/** Issue 5: 10 rules per device cost less than 20% of the end-to-end ingest rate. */
const COST_SHARE_TARGET = 0.2;

const ONLY = new Set(
  (process.env.RULES_BENCH_ONLY ?? 'eval,backtest,aggregate,cluster').split(','),
);
const started = performance.now();
log(`machine: ${JSON.stringify(machineInfo())}`);
log(`mode: ${QUICK ? 'quick (BENCH_QUICK=1)' : 'full'}; figures: ${[...ONLY].join(', ')}`);

let db: ScratchDatabase | undefined;
/** The cluster phase handles signals itself (bench/cluster/lib.ts withCluster), then exits. */
let clusterRunning = false;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted || clusterRunning) return;
    interrupted = true;
    log(`${signal}: cleaning up`);
    void (db?.drop() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

/** Runs one phase; a failure is logged, fails the run, and does not stop the other phases. */
async function phase(name: string, body: () => Promise<void>): Promise<void> {
  if (!ONLY.has(name)) return;
  const t0 = performance.now();
  try {
    await body();
  } catch (err) {
    log(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  }
  log(`${name}: ${Math.round((performance.now() - t0) / 1000)} s`);
}

let evalOneRuleRate: number | undefined;

await phase('eval', async () => {
  for (const line of await runEvalBench(QUICK)) {
    const rules = Number(line.rules);
    if (rules === 1) evalOneRuleRate = line.value;
    // Per message, evaluation costs 1/value s and the whole ingest path 1/INGEST_E2E s.
    const costShare = INGEST_E2E / line.value;
    emit({
      ...line,
      baseline: `ingest.e2e (BENCHMARKS.md): ${INGEST_E2E.toLocaleString('en')} msg/s, MQTT QoS 1 through Mosquitto into Gito on one node and PostgreSQL`,
      baselineValue: INGEST_E2E,
      ratio: round(line.value / INGEST_E2E, 3),
      costShareOfIngest: round(costShare, 4),
      vsIngestCeiling: { baselineValue: line.baselineValue, ratio: line.ratio },
      ...(rules === 10
        ? {
            targetRatio: 1 / COST_SHARE_TARGET,
            target: Math.round(INGEST_E2E / COST_SHARE_TARGET),
            met: costShare < COST_SHARE_TARGET,
            costShareTarget: COST_SHARE_TARGET,
          }
        : {}),
    });
    log(
      `rules.eval.${rules}rules: ${sig(line.value, 4)} msg/s = ${round(costShare * 100, 2)} % of the ingest e2e time per message`,
    );
  }
});

if (ONLY.has('backtest') || ONLY.has('aggregate')) {
  try {
    db = await createScratchDatabase();
    const scratch = db;
    await phase('backtest', async () => {
      for (const line of await runBacktestBench(scratch, { quick: QUICK, evalOneRuleRate }))
        emit(line);
    });
    await phase('aggregate', async () => {
      for (const line of await runAggregateBench(scratch, QUICK)) emit(line);
    });
  } catch (err) {
    log(`scratch database: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  } finally {
    await db?.drop().catch((err: unknown) => log(`drop database: ${String(err)}`));
    db = undefined;
  }
}

await phase('cluster', async () => {
  clusterRunning = true;
  try {
    for (const line of await runAggregateClusterBench(QUICK)) emit(line);
  } finally {
    clusterRunning = false;
  }
});

log(`done in ${Math.round((performance.now() - started) / 1000)} s`);
