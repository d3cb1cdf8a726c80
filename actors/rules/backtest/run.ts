/**
 * Preview and backtest: what a rule (saved or draft) would have done over recorded telemetry.
 * Devices are split into chunks; large backtests run their chunks on a piscina pool of worker
 * threads so the node's event loop keeps serving actors and requests, and progress is reported
 * as chunks finish.
 */
import { availableParallelism } from 'node:os';
import { threadId } from 'node:worker_threads';
import type { Pool } from 'pg';
import { Piscina } from 'piscina';
import { devicesInScope } from '../../../db/devices/scope.ts';
import { compileRule } from '../eval/index.ts';
import type { Rule } from '../model.ts';
import { type ChunkResult, runChunk } from './chunk.ts';
import { aggregateAlerts, type BacktestAlert, type DeviceBreach, deviceAlerts } from './replay.ts';

export interface BacktestProgress {
  readonly devicesDone: number;
  readonly devicesTotal: number;
  readonly readings: number;
}

export interface BacktestResult {
  readonly alerts: BacktestAlert[];
  readonly devices: number;
  readonly readings: number;
  readonly evaluations: number;
  /** Where the chunks ran: 'inline' or 'workers'. */
  readonly mode: 'inline' | 'workers';
  /** Thread ids that did the work. */
  readonly threads: number[];
}

export interface BacktestRequest {
  readonly pool: Pool;
  /** For worker threads (each opens its own small pool). */
  readonly databaseUrl: string;
  readonly rule: Rule;
  readonly from: number;
  readonly to: number;
  readonly onProgress?: (progress: BacktestProgress) => void;
  /** Devices per chunk. Default 100. */
  readonly chunkSize?: number;
  /** Use workers from this many devices x days on (default 50); 0 = always. */
  readonly workerThreshold?: number;
  readonly signal?: AbortSignal;
}

/** Longest range one backtest may cover. */
export const MAX_BACKTEST_RANGE_MS = 366 * 86_400_000;

let shared: Piscina | undefined;

/** The node's backtest worker pool (lazily created; closed by closeBacktestPool). */
function workers(): Piscina {
  shared ??= new Piscina({
    filename: new URL('./worker-entry.mjs', import.meta.url).href,
    maxThreads: Math.max(1, availableParallelism() - 1),
    minThreads: 0,
    idleTimeout: 30_000,
  });
  return shared;
}

export async function closeBacktestPool(): Promise<void> {
  const pool = shared;
  shared = undefined;
  await pool?.destroy();
}

export async function runBacktest(request: BacktestRequest): Promise<BacktestResult> {
  const { rule, from, to } = request;
  if (!(to > from)) throw new RangeError('backtest: `to` must be after `from`');
  if (to - from > MAX_BACKTEST_RANGE_MS)
    throw new RangeError('backtest: range longer than 366 days');
  const compiled = compileRule(rule);
  const devices = await devicesInScope(request.pool, rule.tenantId, rule.scope);
  const chunkSize = Math.max(1, request.chunkSize ?? 100);
  const chunks: (typeof devices)[] = [];
  for (let i = 0; i < devices.length; i += chunkSize) chunks.push(devices.slice(i, i + chunkSize));
  const days = Math.max(1, (to - from) / 86_400_000);
  const useWorkers = devices.length * days >= (request.workerThreshold ?? 50);

  let devicesDone = 0;
  let readings = 0;
  const runOne = async (chunk: typeof devices): Promise<ChunkResult> => {
    const task = { rule, devices: chunk, from, to };
    const result = useWorkers
      ? ((await workers().run(
          { ...task, databaseUrl: request.databaseUrl },
          request.signal === undefined ? {} : { signal: request.signal },
        )) as ChunkResult)
      : await runChunk(request.pool, task, threadId);
    devicesDone += chunk.length;
    readings += result.readings;
    request.onProgress?.({ devicesDone, devicesTotal: devices.length, readings });
    return result;
  };
  const results = useWorkers
    ? await Promise.all(chunks.map(runOne))
    : await sequential(chunks, runOne, request.signal);

  const breaches: DeviceBreach[] = results.flatMap((r) => r.breaches);
  const alerts =
    rule.aggregate === undefined
      ? deviceAlerts(compiled, breaches)
      : aggregateAlerts(compiled, breaches, devices.length, to);
  return {
    alerts,
    devices: devices.length,
    readings,
    evaluations: results.reduce((n, r) => n + r.evaluations, 0),
    mode: useWorkers ? 'workers' : 'inline',
    threads: [...new Set(results.map((r) => r.threadId))],
  };
}

async function sequential<T, R>(
  items: readonly T[],
  fn: (item: T) => Promise<R>,
  signal: AbortSignal | undefined,
): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) {
    signal?.throwIfAborted();
    out.push(await fn(item));
  }
  return out;
}
