import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTelemetryPartitions } from '../../db/partitions.ts';
import { benchmarkTelemetryStore } from '../../db/telemetry/store-bench.ts';
import { BACKENDS, createMigratedTestDatabase, type MigratedTestDatabase } from './helpers.ts';

// Only that the benchmark runs and stores every row; its figures go to BENCHMARKS.md, not here.
describe.each(BACKENDS)('benchmarkTelemetryStore on %s', (backend) => {
  let db: MigratedTestDatabase;
  beforeAll(async () => {
    db = await createMigratedTestDatabase(backend);
    await ensureTelemetryPartitions(db.pool);
  });
  afterAll(() => db?.drop());

  it('measures raw COPY (or INSERT on PGlite) against the writer on the same rows', async () => {
    const now = Date.now();
    const rows = Array.from({ length: 3000 }, (_, i) => ({
      deviceId: 1 + (i % 100),
      ts: now - 60_000 + i,
      metrics: { t: 20 + i / 1000, h: 40, b: 90, rssi: -70, door: 'open', ok: true },
    }));
    const result = await benchmarkTelemetryStore(db.pool, rows, {
      rounds: 1,
      writer: { maxBatch: 500 },
    });
    expect(result.rows).toBe(3000);
    expect(result.writeMethod).toBe(backend === 'postgres' ? 'copy' : 'insert');
    expect(result.rawCopyRowsPerSec).toBeGreaterThan(0);
    expect(result.writerRowsPerSec).toBeGreaterThan(0);
    expect(result.ratio).toBeGreaterThan(0);
  });
});
