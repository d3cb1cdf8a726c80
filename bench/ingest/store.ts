/**
 * `ingest.store`: TelemetryWriter (batched binary COPY, rows acknowledged after commit, with its
 * defaults) against one raw binary COPY stream of the same rows into the same table, through
 * db/telemetry/store-bench.ts's benchmarkTelemetryStore (alternating rounds, each from an empty
 * table, medians). The rows are the benchmark's readings as the ingest parser produces them.
 */
import type { Pool } from 'pg';
import { parseTelemetry } from '../../actors/ingest/parse.ts';
import {
  benchmarkTelemetryStore,
  rawCopy,
  type StoreBenchResult,
} from '../../db/telemetry/store-bench.ts';
import type { TelemetryRow } from '../../db/telemetry/writer.ts';
import { Lcg, payloadText, topicOf, tsOf } from './workload.ts';

export interface StoreFigure extends StoreBenchResult {
  readonly devices: number;
  readonly rounds: number;
  readonly avgJsonBytes: number;
  /**
   * A stricter ceiling, for context: the same rows as two concurrent raw COPY streams on two
   * connections (the writer runs two batches at once), median of the same number of rounds.
   */
  readonly rawCopy2ConnRowsPerSec: number;
}

export async function benchStore(
  pool: Pool,
  opts: { rows: number; devices: number; rounds: number; tsBase: number },
): Promise<StoreFigure> {
  const rows: TelemetryRow[] = new Array(opts.rows);
  const rnd = new Lcg(7);
  let jsonBytes = 0;
  for (let i = 0; i < opts.rows; i++) {
    const device = i % opts.devices;
    const ts = tsOf(i, opts.devices, opts.tsBase);
    const parsed = parseTelemetry(
      topicOf(device, opts.devices),
      Buffer.from(payloadText(ts, rnd)),
      ts,
    );
    if (!parsed.ok) throw new Error(`workload payload refused: ${parsed.reason} ${parsed.detail}`);
    rows[i] = { deviceId: device + 1, ts: parsed.reading.ts, metrics: parsed.reading.metrics };
    if (i < 1000) jsonBytes += JSON.stringify(parsed.reading.metrics).length;
  }
  const result = await benchmarkTelemetryStore(pool, rows, { rounds: opts.rounds });
  const half = Math.ceil(rows.length / 2);
  const two: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    await pool.query('TRUNCATE telemetry');
    const t0 = performance.now();
    await Promise.all([rawCopy(pool, rows.slice(0, half)), rawCopy(pool, rows.slice(half))]);
    two.push(rows.length / ((performance.now() - t0) / 1000));
  }
  await pool.query('TRUNCATE telemetry');
  two.sort((a, b) => a - b);
  return {
    ...result,
    rawCopy2ConnRowsPerSec: two[Math.floor(two.length / 2)]!,
    devices: opts.devices,
    rounds: opts.rounds,
    avgJsonBytes: jsonBytes / Math.min(1000, opts.rows),
  };
}
