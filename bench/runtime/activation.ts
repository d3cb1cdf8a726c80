/**
 * Activation cost and idle memory: a one-shot plain timing loop (tinybench would re-run it and
 * the heap would no longer start from the same place). A first message to each of N new
 * identities activates it (state claimed from the store, initialState, onActivate) and takes one
 * turn; messages go out in chunks of 10,000 followed by `await whenIdle()`, like bursts from a
 * gateway. Heap bytes per actor = (heapUsed after - heapUsed before) / N, each read after a
 * forced full GC, with the N activations left resident and idle.
 */
import type { ActorId, SaveFence, StateStore, StoredState } from '../../runtime/index.ts';
import { fullGc, log, QUICK, sig } from '../lib/report.ts';
import { benchSystem, TOUCH } from './workload.ts';

const CHUNK = 10_000;

/**
 * A store that keeps nothing in this process, as the PostgreSQL store will: every claim finds no
 * row and every save succeeds. Answers synchronously, so activation cost is the runtime's own.
 */
export class ExternalStoreStub implements StateStore {
  claim(_id: ActorId, _epoch: number): StoredState | undefined {
    return undefined;
  }
  save(_id: ActorId, _state: unknown, fence: SaveFence): number {
    return fence.expectedVersion + 1;
  }
  delete(_id: ActorId, _fence: SaveFence): void {}
}

export interface ActivationResult {
  readonly actors: number;
  /** heap bytes per idle activation */
  readonly bytesPerActor: number;
  readonly activationsPerSec: number;
  /** How long shutdown took to passivate (save) them all, ms. */
  readonly shutdownMs: number;
  /** Wall time of the activation loop and the process CPU time (all threads, GC helpers too). */
  readonly wallMs: number;
  readonly cpuMs: number;
}

async function activateMany(n: number, store: StateStore | undefined): Promise<ActivationResult> {
  const system = benchSystem(store);
  fullGc();
  const before = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let base = 0; base < n; base += CHUNK) {
    const end = Math.min(n, base + CHUNK);
    for (let i = base; i < end; i++) system.tell(`counter/dev-${i}`, TOUCH);
    await system.whenIdle();
  }
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  fullGc();
  const after = process.memoryUsage().heapUsed;
  if (system.activeCount !== n) {
    throw new Error(`expected ${n} resident activations, found ${system.activeCount}`);
  }
  const s0 = performance.now();
  await system.shutdown();
  const shutdownMs = performance.now() - s0;
  return {
    actors: n,
    bytesPerActor: (after - before) / n,
    activationsPerSec: (n * 1000) / elapsedMs,
    shutdownMs,
    wallMs: elapsedMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

export interface ActivationResults {
  /**
   * With the embedded default MemoryStateStore (its claim rows count against the actors): the
   * median of `passes` passes by activation rate.
   */
  readonly memoryStore: ActivationResult;
  readonly passes: readonly ActivationResult[];
  /** With a store that holds nothing in-process: the runtime's own cost. */
  readonly externalStore: ActivationResult;
}

export async function benchActivation(): Promise<ActivationResults> {
  const n = QUICK ? 200_000 : 1_000_000;
  // Warm-up: the same code paths on a throwaway system, so the JIT has settled.
  await activateMany(QUICK ? 20_000 : 100_000, undefined);
  const passes: ActivationResult[] = [];
  for (let i = 0; i < (QUICK ? 1 : 3); i++) {
    passes.push(await activateMany(n, undefined));
    fullGc();
  }
  const externalStore = await activateMany(n, new ExternalStoreStub());
  fullGc();
  const byRate = [...passes].sort((a, b) => a.activationsPerSec - b.activationsPerSec);
  const memoryStore = byRate[byRate.length >> 1]!;
  for (const [name, r] of [
    ...passes.map((p, i) => [`MemoryStateStore, pass ${i + 1}`, p] as const),
    ['external store stub', externalStore] as const,
  ]) {
    log(
      `activation (${name}): ${r.actors} actors, ${sig(r.bytesPerActor)} heap bytes/actor, ` +
        `${sig(r.activationsPerSec)} activations/s (wall ${Math.round(r.wallMs)} ms, process CPU ${Math.round(r.cpuMs)} ms), ` +
        `shutdown (passivate all) ${Math.round(r.shutdownMs)} ms`,
    );
  }
  return { memoryStore, passes, externalStore };
}
