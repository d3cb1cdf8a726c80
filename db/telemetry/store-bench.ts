import type { Pool } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { encodeBinary } from './encode.ts';
import { type TelemetryRow, TelemetryWriter, type TelemetryWriterOptions } from './writer.ts';

/**
 * The storage half of `npm run bench:ingest` (bench line `ingest.store`): the same rows through
 * raw COPY (the ceiling) and through TelemetryWriter. Each run starts from an empty table
 * (TRUNCATE telemetry): use a scratch database.
 */

export interface StoreBenchResult {
  readonly rows: number;
  /** One COPY ... (FORMAT binary) stream on one connection, rows encoded as they stream. */
  readonly rawCopyRowsPerSec: number;
  readonly writerRowsPerSec: number;
  /** writer / raw COPY, median of the per-round ratios. */
  readonly ratio: number;
  readonly writeMethod: 'copy' | 'insert';
}

export interface StoreBenchOptions {
  /** Rounds; each runs raw COPY then the writer. Default 3. */
  rounds?: number;
  writer?: TelemetryWriterOptions;
}

/** Runs both and reports medians. On PGlite (no COPY) the ceiling is one INSERT per 5000 rows. */
export async function benchmarkTelemetryStore(
  pool: Pool,
  rows: readonly TelemetryRow[],
  options: StoreBenchOptions = {},
): Promise<StoreBenchResult> {
  const rounds = Math.max(1, options.rounds ?? 3);
  const probe = new TelemetryWriter(pool, options.writer);
  const method = await probe.writeMethod();
  await probe.close();
  const raw: number[] = [];
  const writer: number[] = [];
  for (let r = 0; r < rounds; r++) {
    await pool.query('TRUNCATE telemetry');
    raw.push(
      rows.length / (await (method === 'copy' ? rawCopy(pool, rows) : rawInsert(pool, rows))),
    );
    await pool.query('TRUNCATE telemetry');
    writer.push(rows.length / (await writeAll(pool, rows, options.writer)));
  }
  await pool.query('TRUNCATE telemetry');
  return {
    rows: rows.length,
    rawCopyRowsPerSec: median(raw),
    writerRowsPerSec: median(writer),
    ratio: median(writer.map((w, i) => w / raw[i]!)),
    writeMethod: method,
  };
}

/** Seconds for one binary COPY of all rows (5000 per CopyData message). */
export async function rawCopy(pool: Pool, rows: readonly TelemetryRow[]): Promise<number> {
  const client = await pool.connect();
  try {
    const started = performance.now();
    const stream = client.query(
      copyFrom('COPY telemetry (device_id, ts, metrics) FROM STDIN (FORMAT binary)'),
    );
    const done = new Promise<void>((resolve, reject) => {
      stream.on('finish', resolve);
      stream.on('error', reject);
    });
    for (let i = 0; i < rows.length; i += 5000) {
      const chunk = encodeBinary(
        rows.slice(i, i + 5000).map((r) => ({
          deviceId: r.deviceId,
          ts: r.ts,
          json: JSON.stringify(r.metrics),
        })),
      );
      // One stream: the header once (19 bytes), the trailer once (2 bytes).
      const last = i + 5000 >= rows.length;
      const part = chunk.subarray(i === 0 ? 0 : 19, last ? chunk.length : chunk.length - 2);
      if (!stream.write(part)) await new Promise((r) => stream.once('drain', r));
    }
    stream.end();
    await done;
    return (performance.now() - started) / 1000;
  } finally {
    client.release();
  }
}

/** Seconds for multi-row INSERTs of 5000 rows, one at a time (the PGlite ceiling). */
async function rawInsert(pool: Pool, rows: readonly TelemetryRow[]): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < rows.length; i += 5000) {
    const b = rows.slice(i, i + 5000);
    await pool.query(
      `INSERT INTO telemetry (device_id, ts, metrics)
       SELECT u.d, timestamptz 'epoch' + u.t * interval '1 millisecond', u.m
         FROM ROWS FROM (unnest($1::bigint[]), unnest($2::bigint[]), jsonb_array_elements($3::jsonb))
           AS u(d, t, m)`,
      [
        b.map((r) => r.deviceId),
        b.map((r) => r.ts),
        `[${b.map((r) => JSON.stringify(r.metrics)).join(',')}]`,
      ],
    );
  }
  return (performance.now() - started) / 1000;
}

/** Seconds for the writer to commit every row, honouring backpressure. Throws on a lost row. */
export async function writeAll(
  pool: Pool,
  rows: readonly TelemetryRow[],
  options?: TelemetryWriterOptions,
): Promise<number> {
  const writer = new TelemetryWriter(pool, options);
  await writer.writeMethod();
  let failed: Error | undefined;
  const cb = (err?: Error) => {
    failed ??= err;
  };
  const started = performance.now();
  for (const row of rows) {
    while (!writer.add(row, cb)) await writer.whenWritable();
  }
  await writer.close();
  const seconds = (performance.now() - started) / 1000;
  if (failed !== undefined) throw failed;
  return seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}
