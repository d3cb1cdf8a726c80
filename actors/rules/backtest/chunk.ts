/**
 * One unit of backtest work: a chunk of devices, read from the database and replayed. Runs in
 * a worker thread (worker.ts) for large backtests and inline for small ones; same code either
 * way.
 */
import type { Pool } from 'pg';
import { readTelemetry } from '../../../db/telemetry/replay.ts';
import { compileRule } from '../eval/index.ts';
import type { Rule, Scalar } from '../model.ts';
import { type DeviceBreach, replayDevice } from './replay.ts';

export interface ChunkTask {
  readonly rule: Rule;
  readonly devices: readonly {
    readonly id: number;
    readonly key: string;
    readonly attributes: Record<string, unknown>;
  }[];
  readonly from: number;
  readonly to: number;
}

export interface ChunkResult {
  readonly breaches: DeviceBreach[];
  readonly readings: number;
  readonly evaluations: number;
  /** Which thread did the work (tests check the node's own thread stays free). */
  readonly threadId: number;
}

export async function runChunk(
  pool: Pool,
  task: ChunkTask,
  threadId: number,
): Promise<ChunkResult> {
  const rule = compileRule(task.rule);
  const telemetry = await readTelemetry(
    pool,
    task.devices.map((d) => d.id),
    task.from,
    task.to,
  );
  const breaches: DeviceBreach[] = [];
  let readings = 0;
  let evaluations = 0;
  for (const device of task.devices) {
    const list = telemetry.get(device.id) ?? [];
    readings += list.length;
    const result = replayDevice(
      rule,
      device.key,
      list,
      { from: task.from, to: task.to },
      device.attributes as Record<string, Scalar>,
    );
    evaluations += result.evaluations;
    breaches.push(...result.breaches);
  }
  return { breaches, readings, evaluations, threadId };
}
