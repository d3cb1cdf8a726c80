/**
 * `npm run bench:notify` (`tsx --expose-gc bench/notify/run.ts`; `BENCH_QUICK=1` for the quick
 * mode, under 60 s): the notification figures of issue 6 as JSON lines on stdout
 * (bench/lib/report.ts), progress on stderr.
 *
 * 1. `notify.deliveries`: deliveries/s through the whole path at RATE alerts/s offered:
 *    AlertStore.open (alert + event + outbox row, one transaction each) -> outbox relay ->
 *    escalation actor (tenant default policy for the severity: one level, delay 0, one shared
 *    webhook contact point) -> delivery outbox -> dispatcher -> webhook channel -> a fake
 *    receiver on 127.0.0.1 in its own process (receiver.ts). One node in process (gito.ts).
 * 2. `notify.latency.p99`: just before AlertStore.open to the receiver stamping the request, at
 *    that load (p50 and more as extra fields). Target p99 < 50 ms.
 * 3. `notify.vs_alertmanager`: Gito's throughput at saturation against Prometheus Alertmanager's
 *    (alertmanager.ts), both flooded with the same number of distinct alerts and measured by the
 *    same receiver; Alertmanager's paced run at RATE gives its latencies at the same load.
 *
 * Needs PostgreSQL on 127.0.0.1:5432 (trust, user postgres; GITO_BENCH_PG_ADMIN_URL overrides)
 * and installs prometheus-alertmanager with apt-get when it is absent. Each run creates its own
 * database, Alertmanager (temp config and storage) and receiver, and removes them at the end,
 * also on failure. NOTIFY_BENCH_* variables change sizes for experiments only.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { emit, INVERTED, log, machineInfo, QUICK, round } from '../lib/report.ts';
import { Alertmanager, alertmanagerVersion, ensureAlertmanagerInstalled } from './alertmanager.ts';
import { type GitoNode, GROUPS, startGitoNode } from './gito.ts';
import { createScratchDatabase, killChildrenNow, Receiver, type ScratchDatabase } from './lib.ts';
import { countQueries, loadNote, type RunResult, runAlertmanager, runGito } from './measure.ts';

const envInt = (name: string, fallback: number): number => {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : Number(v);
};

/** Issue 6: p99 under 50 ms at 1,000 alerts/s; Gito at least 2x Alertmanager's throughput. */
const RATE = envInt('NOTIFY_BENCH_RATE', 1_000);
const TARGET_P99_MS = 50;
const TARGET_VS_AM = 2;
/** Alerts offered at RATE (3 s quick, 15 s full): a system slower than RATE drains after. */
const PACED = envInt('NOTIFY_BENCH_PACED', QUICK ? 3_000 : 15_000);
const WARMUP = envInt('NOTIFY_BENCH_WARMUP', QUICK ? 500 : 1_000);
/** Alerts offered as fast as taken, the same count to both systems. */
const FLOOD = envInt('NOTIFY_BENCH_FLOOD', QUICK ? 2_000 : 6_000);
/** Full mode: Gito's latency at a load it sustains (LIGHT_RATE alerts/s, LIGHT alerts). */
const LIGHT_RATE = envInt('NOTIFY_BENCH_LIGHT_RATE', 100);
const LIGHT = envInt('NOTIFY_BENCH_LIGHT', QUICK ? 0 : 1_000);
/** Gito flood: AlertStore.open calls in flight (as many rule actors opening at once). */
const GITO_FLOOD_CONCURRENCY = envInt('NOTIFY_BENCH_GITO_CONCURRENCY', 32);
/**
 * Alertmanager gets what Gito gets: one API call per alert. Paced: one POST per 1 ms tick with
 * the alerts that fell due (1, sometimes 2, as Gito's pacer opens them); flooded: one alert per
 * POST, as many POSTs in flight as Gito has opens. (Batches as Prometheus sends them, up to 64
 * per POST, change little: NOTIFY_BENCH_AM_TICK_MS / _AM_BATCH / _AM_CONCURRENCY.)
 */
const AM_TICK_MS = envInt('NOTIFY_BENCH_AM_TICK_MS', 1);
const AM_FLOOD_BATCH = envInt('NOTIFY_BENCH_AM_BATCH', 1);
const AM_FLOOD_CONCURRENCY = envInt('NOTIFY_BENCH_AM_CONCURRENCY', GITO_FLOOD_CONCURRENCY);
/** Database connections of the node (10: app/ nodes' pool, createPool's default). */
const POOL = envInt('NOTIFY_BENCH_POOL', 10);
/** Writes a CPU profile of Gito's flood run into this folder (diagnostics only). */
const PROFILE_DIR = process.env.NOTIFY_BENCH_PROFILE ?? '';
const ONLY = new Set((process.env.NOTIFY_BENCH_ONLY ?? 'alertmanager,gito').split(','));

const started = performance.now();
log(`machine: ${JSON.stringify(machineInfo())}`);
log(
  `mode: ${QUICK ? 'quick (BENCH_QUICK=1)' : 'full'}; ${RATE} alerts/s paced for ${PACED} alerts (after ${WARMUP} warm-up), flood ${FLOOD}; ${GROUPS} webhook recipients`,
);

let receiver: Receiver | undefined;
let am: Alertmanager | undefined;
let db: ScratchDatabase | undefined;
let node: GitoNode | undefined;

async function cleanup(): Promise<void> {
  await am?.stop().catch((err: unknown) => log(`stop alertmanager: ${String(err)}`));
  am = undefined;
  await node?.stop().catch((err: unknown) => log(`stop node: ${String(err)}`));
  node = undefined;
  await db?.drop().catch((err: unknown) => log(`drop database: ${String(err)}`));
  db = undefined;
  await receiver?.stop().catch(() => {});
  receiver = undefined;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => {
      killChildrenNow();
      process.exit(130);
    });
  });
}

async function startProfile(): Promise<{ stop(file: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      log(`cpu profile written to ${file}`);
    },
  };
}

const plans = (system: string) => ({
  warmup: { label: `${system}.warmup`, count: WARMUP, rate: RATE, concurrency: 0 },
  light: { label: `${system}.light`, count: LIGHT, rate: LIGHT_RATE, concurrency: 0 },
  paced: { label: `${system}.paced`, count: PACED, rate: RATE, concurrency: 0 },
  flood: {
    label: `${system}.flood`,
    count: FLOOD,
    rate: 0,
    concurrency: system === 'gito' ? GITO_FLOOD_CONCURRENCY : AM_FLOOD_CONCURRENCY,
  },
});

let amPaced: RunResult | undefined;
let amFlood: RunResult | undefined;
let gitoPaced: RunResult | undefined;
let gitoFlood: RunResult | undefined;
let gitoLight: RunResult | undefined;
let amVersion = 'unknown';

try {
  receiver = await Receiver.start();
  log(`receiver on ${receiver.origin} (pid of its own)`);

  // Alertmanager first: it is killed before Gito's node starts, so neither competes with the
  // other's background work.
  if (ONLY.has('alertmanager')) {
    ensureAlertmanagerInstalled();
    amVersion = alertmanagerVersion();
    am = await Alertmanager.start(`${receiver.origin}/am`);
    log(`alertmanager ${amVersion} on 127.0.0.1:${am.port} (pid ${am.pid}); load ${loadNote()}`);
    const p = plans('alertmanager');
    const amOptions = { tickMs: AM_TICK_MS, floodBatch: AM_FLOOD_BATCH };
    await runAlertmanager(am, receiver, p.warmup, amOptions);
    amPaced = await runAlertmanager(am, receiver, p.paced, amOptions);
    amFlood = await runAlertmanager(am, receiver, p.flood, amOptions);
    const tail = am.logTail();
    if (tail !== '') log(`alertmanager warnings:\n${tail}`);
    await am.stop();
    am = undefined;
  }

  if (ONLY.has('gito')) {
    db = await createScratchDatabase(POOL);
    const queries = countQueries();
    node = await startGitoNode(db, receiver.origin);
    log(`gito node started; load ${loadNote()}`);
    const p = plans('gito');
    await runGito(node, receiver, p.warmup, db, queries);
    gitoPaced = await runGito(node, receiver, p.paced, db, queries);
    if (LIGHT > 0) gitoLight = await runGito(node, receiver, p.light, db, queries);
    const profiling = PROFILE_DIR === '' ? undefined : await startProfile();
    gitoFlood = await runGito(node, receiver, p.flood, db, queries);
    await profiling?.stop(join(PROFILE_DIR, `notify-gito-flood-${Date.now()}.cpuprofile`));
    for (const [name, r] of [
      ['paced', gitoPaced],
      ['light', gitoLight],
      ['flood', gitoFlood],
    ] as const) {
      if (r === undefined) continue;
      log(`gito.${name}: ${r.queriesPerAlert} database round trips per alert; most frequent:`);
      log('  per alert  ms per call  statement');
      for (const q of r.topQueries ?? [])
        log(
          `  ${q.perAlert.toFixed(3).padStart(9)}  ${q.msPerCall.toFixed(3).padStart(11)}  ${q.sql}`,
        );
    }
    queries.restore();
  }
} catch (err) {
  log(`notify bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  const tail = am?.logTail();
  if (tail !== undefined && tail !== '') log(`alertmanager log:\n${tail}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}

const stageP50P99 = (stages: NonNullable<RunResult['stages']>) =>
  Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, { p50: v.p50, p99: v.p99 }]));

const strip = (r: RunResult) => {
  const { topQueries: _top, ...rest } = r;
  return rest;
};

if (gitoPaced !== undefined) {
  const r = gitoPaced;
  const allDelivered = r.delivered === r.offered && r.failedOffers === 0;
  emit({
    bench: 'notify.deliveries',
    value: r.deliveriesPerSec,
    unit: 'deliveries/s',
    baseline: `offered load: ${RATE.toLocaleString('en')} alerts/s, each opened in its own transaction (AlertStore.open), one webhook delivery per alert to ${GROUPS} distinct URLs (${GROUPS} tenants, each its default policy: one level, delay 0, one shared webhook contact point)`,
    baselineValue: RATE,
    ratio: round(r.deliveriesPerSec / RATE, 3),
    target: RATE,
    met: allDelivered && r.deliveriesPerSec >= 0.98 * RATE,
    note: 'delivered / (last arrival - first open), whole path on one node in process, receiver in its own process; saturation = the flood run (as fast as 32 concurrent opens go)',
    offered: r.offered,
    delivered: r.delivered,
    duplicates: r.duplicates,
    seconds: r.seconds,
    offeredPerSec: r.offeredPerSec,
    pacerMaxLagMs: r.maxLagMs,
    saturationDeliveriesPerSec: gitoFlood?.deliveriesPerSec,
    cpuMsPerAlert: r.cpuMsPerAlert,
    pgCpuMsPerAlert: r.pgCpuMsPerAlert,
    queriesPerAlert: r.queriesPerAlert,
    poolSize: POOL,
    poolWaitingMean: r.poolWaiting?.mean,
    poolAllBusyShare: r.poolWaiting?.busyShare,
  });
  emit({
    bench: 'notify.latency.p99',
    value: r.latency.p99,
    unit: 'ms',
    baseline: `target: p99 < ${TARGET_P99_MS} ms from AlertStore.open to the webhook at ${RATE.toLocaleString('en')} alerts/s`,
    baselineValue: TARGET_P99_MS,
    ratio: round(TARGET_P99_MS / r.latency.p99, 3),
    ratioNote: INVERTED,
    target: TARGET_P99_MS,
    met: r.latency.p99 < TARGET_P99_MS && allDelivered,
    p50: r.latency.p50,
    p90: r.latency.p90,
    max: r.latency.max,
    mean: r.latency.mean,
    samples: r.latency.n,
    openP50: r.open?.p50,
    openP99: r.open?.p99,
    saturationP50: gitoFlood?.latency.p50,
    saturationP99: gitoFlood?.latency.p99,
    ...(gitoLight === undefined
      ? {}
      : {
          light: {
            rate: LIGHT_RATE,
            p50: gitoLight.latency.p50,
            p99: gitoLight.latency.p99,
            deliveriesPerSec: gitoLight.deliveriesPerSec,
          },
        }),
    stages: r.stages === undefined ? undefined : stageP50P99(r.stages),
  });
}

if (gitoFlood !== undefined && amFlood !== undefined) {
  const ratio = gitoFlood.deliveriesPerSec / amFlood.deliveriesPerSec;
  const p99Lower =
    gitoPaced !== undefined && amPaced !== undefined && gitoPaced.latency.p99 < amPaced.latency.p99;
  emit({
    bench: 'notify.vs_alertmanager',
    value: gitoFlood.deliveriesPerSec,
    unit: 'deliveries/s',
    baseline: `Prometheus Alertmanager ${amVersion} (Debian), same receiver, group_by ['...'], group_wait 0s, no HA; ${FLOOD.toLocaleString('en')} distinct alerts via POST /api/v2/alerts, ${AM_FLOOD_BATCH} per POST, ${AM_FLOOD_CONCURRENCY} POSTs in flight (Gito: one transaction per alert, ${GITO_FLOOD_CONCURRENCY} in flight)`,
    baselineValue: amFlood.deliveriesPerSec,
    ratio: round(ratio, 3),
    targetRatio: TARGET_VS_AM,
    met: ratio >= TARGET_VS_AM && p99Lower,
    note: `throughput at saturation (flood); latencies at ${RATE} alerts/s paced (Alertmanager: one POST per ${AM_TICK_MS} ms tick with the alerts due, as Gito's opens)`,
    gitoP99: gitoPaced?.latency.p99,
    gitoP50: gitoPaced?.latency.p50,
    alertmanagerP50: amPaced?.latency.p50,
    alertmanagerP99: amPaced?.latency.p99,
    alertmanagerPacedDeliveriesPerSec: amPaced?.deliveriesPerSec,
    gitoPacedDeliveriesPerSec: gitoPaced?.deliveriesPerSec,
    alertmanagerFloodP99: amFlood.latency.p99,
    gitoFloodP99: gitoFlood.latency.p99,
    alertmanagerCpuMsPerAlert: amFlood.cpuMsPerAlert,
    gitoCpuMsPerAlert: gitoFlood.cpuMsPerAlert,
    gitoPgCpuMsPerAlert: gitoFlood.pgCpuMsPerAlert,
  });
}

log(
  `runs: ${JSON.stringify({ amPaced: amPaced && strip(amPaced), amFlood: amFlood && strip(amFlood), gitoPaced: gitoPaced && strip(gitoPaced), gitoFlood: gitoFlood && strip(gitoFlood), gitoLight: gitoLight && strip(gitoLight) })}`,
);
log(`done in ${Math.round((performance.now() - started) / 1000)} s; load ${loadNote()}`);
// The node's actor system is not shut down (see gito.ts): exit rather than wait for its timers.
process.exit(process.exitCode ?? 0);
