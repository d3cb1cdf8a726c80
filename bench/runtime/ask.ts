/**
 * `ask` round-trip latency to a warm actor: a plain timing loop of sequential asks, each timed on
 * its own with performance.now(), percentiles taken over all samples (nearest rank). tinybench is
 * not used here because it reports per-iteration statistics of a task, and the figure wanted is
 * the distribution of single round trips including the occasional GC pause.
 */
import { log, percentile, QUICK } from '../lib/report.ts';
import {
  benchSystem,
  type CounterMsg,
  counter,
  counterHandlers,
  GET,
  initialCounter,
  type StateHolder,
  TOUCH,
} from './workload.ts';

export interface LatencyResult {
  /** µs */
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly samples: number;
}

export interface AskResult {
  readonly gito: LatencyResult;
  /** The floor: a promise resolved from a queued microtask that runs the same handler. */
  readonly floor: LatencyResult;
}

function summarize(samplesMs: Float64Array): LatencyResult {
  const sorted = samplesMs.slice().sort();
  const us = (p: number) => percentile(sorted, p) * 1000;
  return {
    p50: us(50),
    p99: us(99),
    p999: us(99.9),
    max: sorted[sorted.length - 1]! * 1000,
    samples: sorted.length,
  };
}

export async function benchAsk(): Promise<AskResult> {
  const warmup = QUICK ? 20_000 : 100_000;
  const n = QUICK ? 100_000 : 500_000;

  const system = benchSystem();
  const ref = system.ref(counter, 'ask-target');
  ref.tell(TOUCH);
  await system.whenIdle();

  const samples = new Float64Array(n);
  for (let i = 0; i < warmup; i++) await ref.ask(GET);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await ref.ask(GET);
    samples[i] = performance.now() - t0;
  }
  const gito = summarize(samples);
  await system.shutdown();

  // Floor: the least an in-process asynchronous request/response can cost. The request is queued
  // as a microtask that runs the same `get` handler on a state object and resolves the caller's
  // promise; the caller awaits it. No mailbox, no routing, no timeout timer.
  const ctx: StateHolder = { state: initialCounter() };
  const get = counterHandlers.get;
  const floorAsk = (_msg: CounterMsg): Promise<number> =>
    new Promise<number>((resolve) => queueMicrotask(() => resolve(get(ctx))));
  for (let i = 0; i < warmup; i++) await floorAsk(GET);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await floorAsk(GET);
    samples[i] = performance.now() - t0;
  }
  const floor = summarize(samples);

  log(
    `ask: ${n} sequential asks after ${warmup} warm-up; gito p50 ${gito.p50.toFixed(2)} µs ` +
      `p99 ${gito.p99.toFixed(2)} µs p99.9 ${gito.p999.toFixed(2)} µs max ${gito.max.toFixed(1)} µs; ` +
      `floor p50 ${floor.p50.toFixed(2)} µs p99 ${floor.p99.toFixed(2)} µs`,
  );
  return { gito, floor };
}
