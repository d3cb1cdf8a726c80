/**
 * `npm run bench:ingest` (`tsx --expose-gc bench/ingest/run.ts`; `BENCH_QUICK=1` for the quick
 * mode): the ingest figures as JSON lines on stdout, everything else on stderr. See BENCHMARKS.md,
 * section Ingest.
 *
 * Needs `mosquitto` on PATH and PostgreSQL on 127.0.0.1:5432 (trust, user postgres; override
 * with GITO_BENCH_PG_ADMIN_URL). Each run creates its own database gito_bench_ingest_<random> and
 * its own Mosquitto on a free loopback port, and removes both at the end, also on failure.
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrivateMosquitto } from '../../deploy/mosquitto/private-broker.ts';
import { emit, INVERTED, log, machineInfo, QUICK, round, sig } from '../lib/report.ts';
import type { DeviceBytesResult } from './device-bytes.ts';
import { baseTs, ceilingRound, GitoIngest, type Order, type RoundResult } from './e2e.ts';
import {
  createScratchDatabase,
  killChildrenNow,
  Publisher,
  type ScratchDatabase,
  stopChild,
  track,
} from './lib.ts';
import { benchStore } from './store.ts';

const envInt = (name: string, fallback: number) => {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : Number(v);
};

/** Sizes; the INGEST_BENCH_* variables are for experiments, not for the recorded figures. */
const DEVICES = envInt('INGEST_BENCH_DEVICES', 100_000);
const MESSAGES = envInt('INGEST_BENCH_MESSAGES', QUICK ? 200_000 : 600_000);
const ROUNDS = envInt('INGEST_BENCH_ROUNDS', QUICK ? 1 : 3);
/** QoS 1 messages the publisher keeps in flight (sent, PUBACK not yet back). */
const WINDOW = envInt('INGEST_BENCH_WINDOW', 2_000);
/** Diagnostics: pace the publisher at this many msg/s (0: as fast as it can, the figures). */
const RATE = envInt('INGEST_BENCH_RATE', 0);
const STORE_ROWS = envInt('INGEST_BENCH_STORE_ROWS', QUICK ? 100_000 : 300_000);
const STORE_ROUNDS = envInt('INGEST_BENCH_STORE_ROUNDS', QUICK ? 1 : 5);
const MEMORY_DEVICES = envInt('INGEST_BENCH_MEMORY_DEVICES', QUICK ? 100_000 : 1_000_000);
/** Writes a CPU profile of the last Gito round to this folder (diagnostics only). */
const PROFILE_DIR = process.env.INGEST_BENCH_PROFILE ?? '';
const ONLY = new Set((process.env.INGEST_BENCH_ONLY ?? 'e2e,store,memory').split(','));

const E2E_TARGET = 50_000;
const E2E_TARGET_RATIO = 0.8;
const STORE_TARGET_RATIO = 0.7;
const BYTES_TARGET = 1536;
/** FIELD-NOTES.md: publisher + Mosquitto + a counting Node subscriber on 2 cores, QoS 1. */
const FIELD_NOTES_CEILING = 78_000;

const started = performance.now();
log(`machine: ${JSON.stringify(machineInfo())}`);
log(
  `mode: ${QUICK ? 'quick (BENCH_QUICK=1)' : 'full'}; devices ${DEVICES}, ${MESSAGES} messages x ${ROUNDS} round(s), publisher window ${WINDOW}, store ${STORE_ROWS} rows x ${STORE_ROUNDS}, memory ${MEMORY_DEVICES} devices`,
);

let broker: PrivateMosquitto | undefined;
let db: ScratchDatabase | undefined;
process.on('exit', () => {
  killChildrenNow();
  broker?.killNow();
});
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function cleanup(): Promise<void> {
  killChildrenNow();
  await broker?.stop().catch((err: unknown) => log(`mosquitto stop: ${String(err)}`));
  broker = undefined;
  await db?.drop().catch((err: unknown) => log(`drop database: ${String(err)}`));
  db = undefined;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function describeRound(r: RoundResult, i: number | string): string {
  const cpu = Object.entries(r.cpu.ms)
    .map(([k, v]) => `${k} ${sig(v / 1000, 3)}s`)
    .join(', ');
  const us = Object.entries(r.cpu.ms)
    .filter(([k]) => k !== 'other')
    .map(([k, v]) => `${k} ${sig((v * 1000) / r.messages, 3)}`)
    .join(', ');
  const base = `${r.kind} round ${i}: [µs cpu/msg: ${us}] ${r.messages} msgs in ${sig(r.seconds, 4)} s = ${Math.round(r.rate)} msg/s; cpu ${cpu} (machine busy ${r.cpu.busyCores} cores); gc pauses ${Math.round(r.gcMs)} ms`;
  if (r.kind === 'ceiling') return base;
  return `${base}; rows ${r.rows}, accepted ${r.accepted}, rejected ${r.rejected}, duplicates ${r.duplicates}, batches ${r.batches} (mean ${Math.round(r.meanBatchRows ?? 0)} rows, ${sig(r.meanWriteMs ?? 0, 3)} ms), idle lag ${sig(r.idleLagMs ?? 0, 3)} ms, pauses ${r.pauses}, max unacked ${r.maxUnacked}`;
}

/** The in-process V8 profiler (inspector), for INGEST_BENCH_PROFILE. */
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

async function runE2e(scratch: ScratchDatabase, mqtt: PrivateMosquitto): Promise<void> {
  const node = await GitoIngest.start(scratch.pool, DEVICES);
  let publisher: Publisher | undefined;
  try {
    publisher = await Publisher.start(mqtt.url, `gito-bench-pub-${process.pid}`);
    let tsBase = await baseTs(scratch.pool);
    let seed = 1;
    const order = (count: number): Order => {
      const o = { count, devices: DEVICES, tsBase, window: WINDOW, seed: seed++, rate: RATE };
      tsBase += (Math.ceil(count / DEVICES) + 1) * 1000;
      return o;
    };
    const timeoutMs = (n: number) => Math.max(60_000, (n / 5_000) * 1000);
    // Warm-up (not reported): one message per device through both paths. Gito's activates every
    // device actor, so the measured rounds see a running node with its fleet resident.
    const wc = await ceilingRound(mqtt, publisher, order(DEVICES), timeoutMs(DEVICES));
    log(describeRound(wc, 'warm-up'));
    const wg = await node.round(mqtt, publisher, order(DEVICES), timeoutMs(DEVICES));
    log(describeRound(wg, 'warm-up'));
    let expectedDeviceMessages = wg.accepted ?? 0;
    const ceilings: RoundResult[] = [];
    const gitos: RoundResult[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const c = await ceilingRound(mqtt, publisher, order(MESSAGES), timeoutMs(MESSAGES));
      log(describeRound(c, r));
      ceilings.push(c);
      const profiling = PROFILE_DIR !== '' && r === ROUNDS ? await startProfile() : undefined;
      const g = await node.round(mqtt, publisher, order(MESSAGES), timeoutMs(MESSAGES));
      if (profiling !== undefined)
        await profiling.stop(join(PROFILE_DIR, `gito-round-${Date.now()}.cpuprofile`));
      log(describeRound(g, r));
      gitos.push(g);
      expectedDeviceMessages += g.accepted ?? 0;
    }
    const status = await node.deviceMessages();
    log(
      `device actors: ${node.system.activeCount} resident, ${status.online} online, ${status.total} messages recorded (expected ${expectedDeviceMessages}); snapshot saves ${node.store.saves}`,
    );
    const lost = gitos.reduce((a, g) => a + (g.messages - (g.rows ?? 0)), 0);
    const actorsOk = status.total === expectedDeviceMessages;
    const ceiling = median(ceilings.map((c) => c.rate));
    const gito = median(gitos.map((g) => g.rate));
    const ratio = gito / ceiling;
    const rates = (rs: RoundResult[]) => rs.map((x) => Math.round(x.rate));
    const cpuShare = (rs: RoundResult[]) => {
      const sum: Record<string, number> = {};
      let wall = 0;
      for (const x of rs) {
        wall += x.cpu.wallMs;
        for (const [k, v] of Object.entries(x.cpu.ms)) sum[k] = (sum[k] ?? 0) + v;
      }
      const out: Record<string, number> = {};
      for (const [k, v] of Object.entries(sum)) out[k] = round(v / wall, 2);
      return out;
    };
    emit({
      bench: 'ingest.broker_ceiling',
      value: Math.round(ceiling),
      unit: 'msg/s',
      baseline:
        'FIELD-NOTES.md: ~78,000 msg/s at QoS 1 on a 2-core machine (publisher, Mosquitto and a counting Node subscriber all local)',
      baselineValue: FIELD_NOTES_CEILING,
      ratio: round(ceiling / FIELD_NOTES_CEILING, 3),
      messages: MESSAGES,
      rounds: rates(ceilings),
      cpuCoresByProcess: cpuShare(ceilings),
      note: `informational (no target): the ceiling ingest.e2e is measured against. Private Mosquitto ${mqtt.settings.max_inflight_messages ? `(max_inflight_messages ${mqtt.settings.max_inflight_messages}, max_queued_messages ${mqtt.settings.max_queued_messages})` : ''}, one mqtt.js publisher child with ${WINDOW} QoS 1 messages in flight, one mqtt.js subscriber ($share/gito/${'+'}/devices/+/telemetry, QoS 1) that counts and acknowledges at once; first publish to last message counted; median of ${ROUNDS} round(s) alternating with ingest.e2e`,
    });
    emit({
      bench: 'ingest.e2e',
      value: Math.round(gito),
      unit: 'msg/s',
      baseline:
        'broker ceiling: the same QoS 1 messages through the same Mosquitto to a subscriber that only counts them (ingest.broker_ceiling)',
      baselineValue: Math.round(ceiling),
      ratio: round(ratio, 3),
      target: E2E_TARGET,
      targetRatio: E2E_TARGET_RATIO,
      met: gito >= E2E_TARGET && ratio >= E2E_TARGET_RATIO && lost === 0 && actorsOk,
      devices: DEVICES,
      messages: MESSAGES,
      rounds: rates(gitos),
      roundRatios: gitos.map((g, i) => round(g.rate / ceilings[i]!.rate, 3)),
      lostRows: lost,
      deviceActorsConsistent: actorsOk,
      cpuCoresByProcess: cpuShare(gitos),
      note: `publisher child (QoS 1, ${WINDOW} in flight) -> Mosquitto -> MqttSource ($share/gito, acks deferred until commit) -> IngestPipeline -> TelemetryWriter (binary COPY, defaults) and device actors (ActorSystem, createDeviceActor, no-op state store); ${DEVICES} registered devices, directory preloaded, actors resident after a warm-up round; first publish to last row committed and whenIdle(); rows counted with count(*) after each round (lost = published - rows); median of ${ROUNDS} round(s)`,
    });
  } finally {
    await publisher?.stop().catch(() => {});
    await node.stop().catch((err: unknown) => log(`node stop: ${String(err)}`));
  }
}

async function runStore(scratch: ScratchDatabase): Promise<void> {
  const r = await benchStore(scratch.pool, {
    rows: STORE_ROWS,
    devices: DEVICES,
    rounds: STORE_ROUNDS,
    tsBase: await baseTs(scratch.pool),
  });
  log(
    `store: raw COPY ${Math.round(r.rawCopyRowsPerSec)} rows/s, writer ${Math.round(r.writerRowsPerSec)} rows/s (${r.writeMethod}), ratio ${round(r.ratio, 3)}; raw COPY on two connections ${Math.round(r.rawCopy2ConnRowsPerSec)} rows/s (writer ${round(r.writerRowsPerSec / r.rawCopy2ConnRowsPerSec, 3)} of it); ${r.rows} rows, ~${Math.round(r.avgJsonBytes)} B of JSON each`,
  );
  emit({
    bench: 'ingest.store',
    value: Math.round(r.writerRowsPerSec),
    unit: 'rows/s',
    baseline:
      'raw COPY: one COPY telemetry FROM STDIN (FORMAT binary) stream on one connection, the same rows into the same (empty) table',
    baselineValue: Math.round(r.rawCopyRowsPerSec),
    ratio: round(r.ratio, 3),
    targetRatio: STORE_TARGET_RATIO,
    met: r.ratio >= STORE_TARGET_RATIO,
    rows: r.rows,
    devices: r.devices,
    writeMethod: r.writeMethod,
    rawCopy2ConnRowsPerSec: Math.round(r.rawCopy2ConnRowsPerSec),
    ratioVs2ConnCopy: round(r.writerRowsPerSec / r.rawCopy2ConnRowsPerSec, 3),
    note: `db/telemetry/store-bench.ts benchmarkTelemetryStore: ${r.rounds} alternating round(s) (TRUNCATE before each), TelemetryWriter with its defaults (maxBatch 5000, maxInFlight 2, add() honouring backpressure, close() to drain); ratio = median of per-round ratios; rawCopy2ConnRowsPerSec: the same rows as two concurrent raw COPY streams (context only, the writer runs two batches at once); rows of 6 metrics (~${Math.round(r.avgJsonBytes)} B JSON) as the ingest parser produces them`,
  });
}

async function runMemory(): Promise<void> {
  const child = track(
    fork(fileURLToPath(new URL('./device-bytes.ts', import.meta.url)), [String(MEMORY_DEVICES)], {
      execArgv: [
        ...process.execArgv.filter((a) => !a.startsWith('--max-old-space-size')),
        ...(process.execArgv.includes('--expose-gc') ? [] : ['--expose-gc']),
        '--max-old-space-size=6144',
      ],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  );
  try {
    const reply = await new Promise<{ ok: boolean; result?: DeviceBytesResult; error?: string }>(
      (resolve, reject) => {
        child.once('message', (m) => resolve(m as { ok: boolean; result?: DeviceBytesResult }));
        child.once('exit', (code) => reject(new Error(`device-bytes child exited ${code}`)));
      },
    );
    if (!reply.ok || reply.result === undefined) throw new Error(`device-bytes: ${reply.error}`);
    const r = reply.result;
    log(
      `memory: ${r.devices} devices resident, ${sig(r.bytesPerDevice, 4)} B each; heap ${Math.round(r.heapBeforeMB)} -> ${Math.round(r.heapAfterMB)} MB, rss ${Math.round(r.rssAfterMB)} MB; ${Math.round(r.activationsPerSec)} first messages/s; ${r.saves} snapshot saves`,
    );
    emit({
      bench: 'ingest.device_bytes',
      value: Math.round(r.bytesPerDevice),
      unit: 'bytes',
      baseline: 'target: 1.5 KB of heap per resident device actor with live status',
      baselineValue: BYTES_TARGET,
      ratio: round(BYTES_TARGET / r.bytesPerDevice, 3),
      ratioNote: INVERTED,
      target: BYTES_TARGET,
      met: r.bytesPerDevice <= BYTES_TARGET,
      devices: r.devices,
      heapMB: Math.round(r.heapAfterMB - r.heapBeforeMB),
      rssMB: Math.round(r.rssAfterMB),
      firstMessagesPerSec: Math.round(r.activationsPerSec),
      note: `child process: ${r.devices} devices each get one reading (6 metrics + ts) through IngestPipeline into createDeviceActor (defaults, online with its timer armed, snapshot to a no-op state store); heapUsed delta / devices between two forced full GCs, all resident; the directory cache is not included`,
    });
  } finally {
    await stopChild(child);
  }
}

try {
  if (ONLY.has('e2e') || ONLY.has('store')) {
    db = await createScratchDatabase();
    if (ONLY.has('e2e')) {
      broker = await PrivateMosquitto.start();
      log(`mosquitto on ${broker.url}: ${JSON.stringify(broker.settings)}`);
      await runE2e(db, broker);
      await broker.stop();
      broker = undefined;
    }
    if (ONLY.has('store')) await runStore(db);
    await db.drop();
    db = undefined;
  }
  if (ONLY.has('memory')) await runMemory();
} catch (err) {
  log(`bench:ingest failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
  log(`done in ${Math.round((performance.now() - started) / 1000)} s`);
}
