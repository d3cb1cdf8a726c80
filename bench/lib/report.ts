/**
 * The output contract shared by every `npm run bench:*` script: stdout carries only JSON lines,
 * one per figure; progress, tables and diagnostics go to stderr.
 */

import { Console } from 'node:console';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import type { Task } from 'tinybench';

/** `BENCH_QUICK=1`: same lines, smaller sizes, whole run under 60 s. */
export const QUICK = process.env.BENCH_QUICK === '1';

export interface BenchLine {
  /** `runtime.tell.1000`, `runtime.ask.p99`, ... */
  readonly bench: string;
  readonly value: number;
  readonly unit: string;
  /** What the value is compared with, in words. */
  readonly baseline: string;
  readonly baselineValue: number;
  /** Higher is better: value/baselineValue, or baselineValue/value when `ratioNote` says so. */
  readonly ratio: number;
  readonly ratioNote?: string;
  /** Target for `value`, in `unit`. */
  readonly target?: number;
  /** Target for `ratio`. */
  readonly targetRatio?: number;
  readonly met?: boolean;
  readonly note?: string;
  readonly [extra: string]: unknown;
}

export const INVERTED = 'inverted: ratio = baselineValue / value, so higher is better';

const stderrConsole = new Console({ stdout: process.stderr, stderr: process.stderr });

/**
 * Writes one figure as a JSON line on stdout, stamped with the machine's 1-minute load average
 * (on a shared machine a high one explains a low figure).
 */
export function emit(line: BenchLine): void {
  const stamped = { ...line, loadAvg1m: round(loadavg()[0] ?? 0, 2) };
  process.stdout.write(`${JSON.stringify(stamped)}\n`);
}

/** Progress and diagnostics: stderr only. */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Prints a tinybench table on stderr. */
export function logTable(tasks: readonly Task[]): void {
  stderrConsole.table(
    tasks.map((t) => {
      const r = t.result;
      if (r.state !== 'completed') return { task: t.name, state: r.state };
      return {
        task: t.name,
        'mean (ms)': round(r.latency.mean, 4),
        'p50 (ms)': round(r.latency.p50, 4),
        'p99 (ms)': round(r.latency.p99, 4),
        'rme (%)': round(r.latency.rme, 2),
        samples: r.latency.samplesCount,
      };
    }),
  );
}

export interface TaskStats {
  /** Mean time per iteration (ms), GC pauses included. */
  readonly meanMs: number;
  /** Relative margin of error of that mean (%, 95% confidence). */
  readonly rmePct: number;
  readonly samples: number;
}

/** Statistics of a completed tinybench task; throws with the task's error otherwise. */
export function taskStats(task: Task | undefined): TaskStats {
  if (task === undefined) throw new Error('benchmark task missing');
  const r = task.result;
  if (r.state === 'errored') throw r.error;
  if (r.state !== 'completed') throw new Error(`task ${task.name} ended ${r.state}`);
  return { meanMs: r.period, rmePct: r.latency.rme, samples: r.latency.samplesCount };
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Rounds to `significant` significant digits (for rates and byte counts). */
export function sig(n: number, significant = 4): number {
  if (n === 0 || !Number.isFinite(n)) return n;
  return Number(n.toPrecision(significant));
}

/** Nearest-rank percentile of an ascending-sorted array; p in [0, 100]. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Runs a full collection (needs `node --expose-gc`). */
export function fullGc(): void {
  const collect = globalThis.gc;
  if (collect === undefined) throw new Error('run with node --expose-gc (npm run bench:runtime)');
  collect();
  collect();
}

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cpus: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly v8: string;
  readonly platform: string;
  /** 1-minute load average when read: other work on the machine skews every figure. */
  readonly loadAvg1m: number;
}

export function machineInfo(): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1] !== undefined) cpuModel = match[1].trim();
  } catch {
    // Not Linux: os.cpus() is good enough.
  }
  return {
    cpuModel,
    cpus: cpus().length,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    loadAvg1m: round(loadavg()[0] ?? 0, 2),
  };
}
