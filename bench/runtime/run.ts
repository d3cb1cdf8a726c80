/**
 * `npm run bench:runtime` (`BENCH_QUICK=1` for the quick mode): the actor kernel's figures as
 * JSON lines on stdout, everything else on stderr. See BENCHMARKS.md.
 */

import { loadavg } from 'node:os';
import { emit, INVERTED, log, machineInfo, QUICK, round, sig } from '../lib/report.ts';
import { benchActivation } from './activation.ts';
import { benchAsk } from './ask.ts';
import { benchTell, type TellResult } from './tell.ts';

const TELL_TARGET = 5_000_000;
const TELL_TARGET_RATIO = 0.3;
const NACT_TARGET_RATIO = 10;
const ASK_P99_TARGET_US = 20;
const BYTES_TARGET = 1024;
/** Proto.Actor and Akka: about 2.5 million idle actors per GB. */
const JVM_CLR_BYTES = Math.round(2 ** 30 / 2_500_000);
const ACTIVATIONS_TARGET = 500_000;

const started = performance.now();
log(`machine: ${JSON.stringify(machineInfo())}`);
log(`mode: ${QUICK ? 'quick (BENCH_QUICK=1)' : 'full'}`);

const millions = (rates: readonly number[]) => rates.map((r) => sig(r / 1e6, 3)).join(', ');

function emitTell(r: TellResult): void {
  const ratio = r.gito.rate / r.plain.rate;
  emit({
    bench: `runtime.tell.${r.actors}`,
    value: Math.round(r.gito.rate),
    unit: 'msg/s',
    baseline: `plain-call ceiling: the same handler called through an array queue of (id, msg), one Map lookup per message, ${r.actors} state objects, batches of ${r.batch}`,
    baselineValue: Math.round(r.plain.rate),
    ratio: round(ratio, 3),
    target: TELL_TARGET,
    targetRatio: TELL_TARGET_RATIO,
    met: r.gito.rate >= TELL_TARGET && ratio >= TELL_TARGET_RATIO,
    rmePct: round(r.gito.rmePct, 2),
    baselineRmePct: round(r.plain.rmePct, 2),
    note: `tinybench: batches of ${r.batch} tells round-robin over ${r.actors} warm actors, then await whenIdle(); msg/s = batch / mean iteration time; median of ${r.gito.rounds.length} alternating round(s): gito [${millions(r.gito.rounds)}] M, plain [${millions(r.plain.rounds)}] M`,
  });
}

const tell1 = await benchTell({ actors: 1, batch: 10_000 });
emitTell(tell1);
const tell1000 = await benchTell({ actors: 1_000, batch: 100_000, nact: true });
emitTell(tell1000);
const tell100k = await benchTell({ actors: 100_000, batch: 100_000 });
emitTell(tell100k);

const nact = tell1000.nact;
if (nact === undefined) throw new Error('nact was not measured');
const nactRatio = tell1000.gito.rate / nact.rate;
const roundRatios = tell1000.gito.rounds.map((g, i) => g / nact.rounds[i]!);
emit({
  bench: 'runtime.tell_vs_nact',
  value: Math.round(tell1000.gito.rate),
  unit: 'msg/s',
  baseline:
    'nact 7.6.2: 1,000 spawned actors, a reducer doing the same increment, dispatch batches of 100,000 round-robin and wait until the reducer has counted them all',
  baselineValue: Math.round(nact.rate),
  ratio: round(nactRatio, 2),
  targetRatio: NACT_TARGET_RATIO,
  met: nactRatio >= NACT_TARGET_RATIO,
  rmePct: round(tell1000.gito.rmePct, 2),
  baselineRmePct: round(nact.rmePct, 2),
  roundRatios: roundRatios.map((r) => round(r, 2)),
  note: `same tinybench rounds as runtime.tell.1000; ratio = median Gito msg/s / median nact msg/s; nact per round [${millions(nact.rounds)}] M`,
});

const ask = await benchAsk();
emit({
  bench: 'runtime.ask.p50',
  value: round(ask.gito.p50, 3),
  unit: 'µs',
  baseline: 'floor: await a promise resolved by a queued microtask running the same handler',
  baselineValue: round(ask.floor.p50, 3),
  ratio: round(ask.floor.p50 / ask.gito.p50, 3),
  ratioNote: INVERTED,
  note: `plain timing loop: ${ask.gito.samples} sequential asks to one warm actor, each timed; p99.9 ${round(ask.gito.p999, 2)} µs, max ${round(ask.gito.max, 1)} µs`,
});
emit({
  bench: 'runtime.ask.p99',
  value: round(ask.gito.p99, 3),
  unit: 'µs',
  baseline: 'target: p99 under 20 µs',
  baselineValue: ASK_P99_TARGET_US,
  ratio: round(ASK_P99_TARGET_US / ask.gito.p99, 2),
  ratioNote: INVERTED,
  target: ASK_P99_TARGET_US,
  met: ask.gito.p99 < ASK_P99_TARGET_US,
  floorP99: round(ask.floor.p99, 3),
  note: `plain timing loop, same samples as runtime.ask.p50; the floor's p99 is ${round(ask.floor.p99, 3)} µs`,
});

const act = await benchActivation();
const mem = act.memoryStore;
const ext = act.externalStore;
const rates = act.passes.map((p) => sig(p.activationsPerSec, 3)).join(', ');
emit({
  bench: 'runtime.actor_bytes',
  value: Math.round(mem.bytesPerActor),
  unit: 'bytes',
  baseline: `target: at most 1 KB per idle actor (Proto.Actor/Akka: ~2.5M actors/GB = ~${JVM_CLR_BYTES} bytes)`,
  baselineValue: BYTES_TARGET,
  ratio: round(BYTES_TARGET / mem.bytesPerActor, 2),
  ratioNote: INVERTED,
  target: BYTES_TARGET,
  met: mem.bytesPerActor <= BYTES_TARGET,
  vsProtoActorAkka: round(JVM_CLR_BYTES / mem.bytesPerActor, 2),
  externalStoreBytes: Math.round(ext.bytesPerActor),
  note: `plain one-shot loop: ${mem.actors} idle activations with state {count,sum,last}, heapUsed delta between forced GCs / N; includes the embedded MemoryStateStore's claim rows; with a store that keeps nothing in-process (like PostgreSQL) ${Math.round(ext.bytesPerActor)} bytes`,
});
emit({
  bench: 'runtime.activations',
  value: Math.round(mem.activationsPerSec),
  unit: 'activations/s',
  baseline: 'target: at least 500,000 activations/s',
  baselineValue: ACTIVATIONS_TARGET,
  ratio: round(mem.activationsPerSec / ACTIVATIONS_TARGET, 2),
  target: ACTIVATIONS_TARGET,
  met: mem.activationsPerSec >= ACTIVATIONS_TARGET,
  externalStorePerSec: Math.round(ext.activationsPerSec),
  note: `plain one-shot loop, median of ${act.passes.length} pass(es) [${rates}]: ${mem.actors} new identities, the first message activates each (MemoryStateStore claim + initialState) and takes one turn; bursts of 10,000 tells then await whenIdle(); GC time included; median pass: wall ${Math.round(mem.wallMs)} ms, process CPU ${Math.round(mem.cpuMs)} ms (CPU well below wall = the process was descheduled); with a store that keeps nothing in-process ${sig(ext.activationsPerSec, 3)}/s`,
});

log(
  `done in ${((performance.now() - started) / 1000).toFixed(1)} s; 1-minute load average now ${round(loadavg()[0] ?? 0, 2)}`,
);
