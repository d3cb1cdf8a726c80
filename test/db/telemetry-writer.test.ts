import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTelemetryPartitions, monthStart } from '../../db/partitions.ts';
import { registerTelemetryMetrics } from '../../db/telemetry/metrics.ts';
import {
  TelemetryOutOfRangeError,
  type TelemetryRow,
  TelemetryRowError,
  TelemetryWriteError,
  TelemetryWriter,
  TelemetryWriterClosedError,
} from '../../db/telemetry/writer.ts';
import { BACKENDS, createMigratedTestDatabase, type MigratedTestDatabase } from './helpers.ts';

const NOW = Date.now();
const metrics = (i: number) => ({
  temperature: 20 + i / 100,
  humidity: 40,
  battery: 97,
  rssi: -71,
  door: i % 2 === 0 ? 'open' : 'closed',
  alarm: false,
});

/** Device ids are unique per test (a counter), so tests share one database safely. */
let nextDevice = 1;
function rowsFor(n: number, deviceId = nextDevice++, start = NOW - 60_000): TelemetryRow[] {
  return Array.from({ length: n }, (_, i) => ({ deviceId, ts: start + i, metrics: metrics(i) }));
}

/** Adds rows; resolves with each row's callback result (undefined = committed). */
function addAll(writer: TelemetryWriter, rows: TelemetryRow[]): Promise<Array<Error | undefined>> {
  return Promise.all(
    rows.map(
      (row) =>
        new Promise<Error | undefined>((resolve) => {
          expect(writer.add(row, resolve)).toBe(true);
        }),
    ),
  );
}

async function countRows(pool: Pool, deviceId: number): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM telemetry WHERE device_id = $1',
    [deviceId],
  );
  return rows[0]!.n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(BACKENDS)('TelemetryWriter on %s', (backend) => {
  let db: MigratedTestDatabase;
  let pool: Pool;
  beforeAll(async () => {
    db = await createMigratedTestDatabase(backend);
    pool = db.pool;
    await ensureTelemetryPartitions(pool, { monthsAhead: 2 });
  });
  afterAll(() => db?.drop());

  it(`writes with ${backend === 'postgres' ? 'COPY' : 'INSERT (no COPY over the PGlite socket)'}`, async () => {
    const writer = new TelemetryWriter(pool);
    expect(await writer.writeMethod()).toBe(backend === 'postgres' ? 'copy' : 'insert');
    const rows = rowsFor(20);
    const results = await addAll(writer, rows);
    expect(results).toEqual(rows.map(() => undefined));
    const { rows: stored } = await pool.query<{ ts: Date; metrics: unknown }>(
      'SELECT ts, metrics FROM telemetry WHERE device_id = $1 ORDER BY ts',
      [rows[0]!.deviceId],
    );
    expect(stored.map((r) => r.ts.getTime())).toEqual(rows.map((r) => r.ts));
    expect(stored[3]!.metrics).toEqual(metrics(3));
    expect(writer.stats.rowsWritten).toBe(20);
    await writer.close();
  });

  it('calls back only after commit: the row is visible from another connection', async () => {
    const writer = new TelemetryWriter(pool, { maxBatch: 50 });
    const rows = rowsFor(120);
    const deviceId = rows[0]!.deviceId as number;
    const seen: Array<Promise<number>> = [];
    await Promise.all(
      rows.map(
        (row) =>
          new Promise<void>((resolve, reject) => {
            writer.add(row, (err) => {
              if (err) return reject(err);
              // Asked at callback time, on another pooled connection.
              seen.push(
                pool
                  .query<{ n: number }>(
                    'SELECT count(*)::int AS n FROM telemetry WHERE device_id = $1 AND ts = $2',
                    [deviceId, new Date(row.ts)],
                  )
                  .then((r) => r.rows[0]!.n),
              );
              resolve();
            });
          }),
      ),
    );
    expect(await Promise.all(seen)).toEqual(rows.map(() => 1));
    await writer.close();
  });

  it('batches by size: maxBatch rows go out at once, the rest waits for the timer', async () => {
    const writer = new TelemetryWriter(pool, { maxBatch: 100, maxDelayMs: 60_000 });
    const rows = rowsFor(250);
    const done: number[] = [];
    rows.forEach((row, i) => {
      writer.add(row, (err) => {
        if (!err) done.push(i);
      });
    });
    for (let i = 0; i < 200 && done.length < 200; i++) await sleep(10);
    await sleep(50);
    expect(done.length).toBe(200);
    expect(writer.stats.batches).toBe(2);
    expect(writer.buffered).toBe(50);
    await writer.flush();
    expect(done.length).toBe(250);
    expect(writer.stats.batches).toBe(3);
    expect(writer.stats.batchRows.count).toBe(3);
    expect(writer.stats.batchRows.sum).toBe(250);
    expect(await countRows(pool, rows[0]!.deviceId as number)).toBe(250);
    await writer.close();
  });

  it('batches by time: a few rows go out after maxDelayMs as one batch', async () => {
    const writer = new TelemetryWriter(pool, { maxBatch: 1000, maxDelayMs: 40 });
    await writer.writeMethod();
    const started = performance.now();
    const results = await addAll(writer, rowsFor(10));
    const elapsed = performance.now() - started;
    expect(results.every((r) => r === undefined)).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(35);
    expect(writer.stats.batches).toBe(1);
    expect(writer.stats.batchRows.sum).toBe(10);
    await writer.close();
  });

  it('applies backpressure: a full buffer refuses rows until batches commit', async () => {
    const writer = new TelemetryWriter(pool, {
      maxBatch: 10,
      maxBuffered: 20,
      maxInFlight: 1,
      maxDelayMs: 1,
    });
    await addAll(writer, rowsFor(1)); // warm up: backend and partitions known
    // Hold the writer's INSERT/COPY behind a transaction (PGlite: any open transaction blocks
    // the others; PostgreSQL: a table lock).
    const blocker = await pool.connect();
    try {
      await blocker.query('BEGIN');
      if (backend === 'postgres') await blocker.query('LOCK TABLE telemetry IN EXCLUSIVE MODE');
      const rows = rowsFor(25);
      const results: Array<Error | undefined> = [];
      let accepted = 0;
      for (const row of rows) {
        if (!writer.add(row, (err) => results.push(err))) break;
        accepted++;
      }
      expect(accepted).toBe(20);
      expect(writer.writable).toBe(false);
      expect(writer.buffered).toBe(20);
      let space = false;
      const waiting = writer.whenWritable().then(() => {
        space = true;
      });
      await sleep(100);
      expect(space).toBe(false);
      expect(results).toEqual([]);
      await blocker.query('COMMIT');
      await waiting;
      expect(writer.writable).toBe(true);
      await writer.flush();
      expect(results).toEqual(rows.slice(0, 20).map(() => undefined));
      expect(await countRows(pool, rows[0]!.deviceId as number)).toBe(20);
    } finally {
      await blocker.query('ROLLBACK').catch(() => {});
      blocker.release();
    }
    await writer.close();
  });

  it('falls back to ON CONFLICT DO NOTHING for redelivered rows, and counts them', async () => {
    const writer = new TelemetryWriter(pool, { conflictModeMs: 0 });
    const rows = rowsFor(100);
    expect((await addAll(writer, rows)).every((r) => r === undefined)).toBe(true);
    const deviceId = rows[0]!.deviceId as number;
    // The same 100 again (a redelivery after a crash) plus 50 new ones, in one batch.
    const more = [...rows, ...rowsFor(50, deviceId, rows[99]!.ts + 1)];
    expect((await addAll(writer, more)).every((r) => r === undefined)).toBe(true);
    expect(writer.stats.duplicates).toBe(100);
    expect(writer.stats.rowsWritten).toBe(150);
    expect(writer.stats.copyFallbacks).toBe(backend === 'postgres' ? 1 : 0);
    // A duplicate inside one batch is fine too.
    const twice = rowsFor(1);
    await writer.flush();
    expect(await addAll(writer, [twice[0]!, twice[0]!])).toEqual([undefined, undefined]);
    expect(writer.stats.duplicates).toBe(101);
    expect(await countRows(pool, deviceId)).toBe(150);
    expect(await countRows(pool, twice[0]!.deviceId as number)).toBe(1);
    await writer.close();
  });

  it('refuses rows outside the partitions without failing their batch', async () => {
    const writer = new TelemetryWriter(pool, { rangeRecheckMs: 0 });
    const good = rowsFor(5);
    const deviceId = good[0]!.deviceId as number;
    const past = { deviceId, ts: Date.parse('2001-01-01T00:00:00Z'), metrics: { a: 1 } };
    const future = { deviceId, ts: monthStart(NOW, 8) + 1000, metrics: { a: 2 } };
    const results = await addAll(writer, [good[0]!, past, good[1]!, future, ...good.slice(2)]);
    expect(results[1]).toBeInstanceOf(TelemetryOutOfRangeError);
    expect(results[3]).toBeInstanceOf(TelemetryOutOfRangeError);
    expect((results[1] as TelemetryOutOfRangeError).ts).toBe(past.ts);
    expect(results[1]!.message).toMatch(/2001-01-01T00:00:00.000Z is outside the stored range/);
    expect(results.filter((r) => r === undefined)).toHaveLength(5);
    expect(writer.stats.outOfRange).toBe(2);
    expect(await countRows(pool, deviceId)).toBe(5);
    // Once the partition exists, the same row goes in (the writer re-reads the partitions).
    await ensureTelemetryPartitions(pool, { now: future.ts, monthsAhead: 0, monthsBehind: 0 });
    expect(await addAll(writer, [future])).toEqual([undefined]);
    expect(await countRows(pool, deviceId)).toBe(6);
    await writer.close();
  });

  it('refuses malformed rows on their own, and stores what JSONB would refuse', async () => {
    const writer = new TelemetryWriter(pool);
    const [ok] = rowsFor(1);
    const deviceId = ok!.deviceId as number;
    const bad = [
      { deviceId: 'abc', ts: NOW, metrics: {} },
      { deviceId: 1.5, ts: NOW, metrics: {} },
      { deviceId: '99999999999999999999', ts: NOW, metrics: {} },
      { deviceId, ts: Number.NaN, metrics: {} },
      { deviceId, ts: NOW, metrics: [1, 2] },
      { deviceId, ts: NOW, metrics: null },
    ] as unknown as TelemetryRow[];
    const nul = { deviceId, ts: ok!.ts + 1, metrics: { 'k\u0000': 'a\u0000b', s: '\ud800x' } };
    const big = { deviceId: String(deviceId), ts: ok!.ts + 2, metrics: { n: 1 } };
    const results = await addAll(writer, [ok!, ...bad, nul, big]);
    expect(results[0]).toBeUndefined();
    for (let i = 1; i <= bad.length; i++) expect(results[i]).toBeInstanceOf(TelemetryRowError);
    expect(results.slice(-2)).toEqual([undefined, undefined]);
    expect(writer.stats.invalid).toBe(bad.length);
    const { rows } = await pool.query<{ metrics: Record<string, string> }>(
      'SELECT metrics FROM telemetry WHERE device_id = $1 AND ts = $2',
      [deviceId, new Date(nul.ts)],
    );
    expect(rows[0]!.metrics).toEqual({ 'k\ufffd': 'a\ufffdb', s: '\ufffdx' });
    await writer.close();
  });

  it('round-trips awkward strings and bigint device ids in every write format', async () => {
    const awkward = {
      quote: 'say "hi"',
      backslash: 'C:\\temp\\new',
      controls: 'tab\tnewline\ncr\r',
      unicode: 'µ°C ✓ 🚀',
      'key with \\ and "': true,
    };
    const formats =
      backend === 'postgres'
        ? [
            { copyFormat: 'binary' as const },
            { copyFormat: 'text' as const },
            { method: 'insert' as const },
          ]
        : [{}];
    for (const options of formats) {
      const writer = new TelemetryWriter(pool, options);
      const deviceId = nextDevice++;
      const big = `90071992547409${String(nextDevice++).padStart(2, '0')}`; // beyond 2^53
      const rows = [
        { deviceId, ts: NOW - 1000, metrics: awkward },
        { deviceId: big, ts: NOW - 1000, metrics: { n: 1 } },
      ];
      expect(await addAll(writer, rows)).toEqual([undefined, undefined]);
      const { rows: stored } = await pool.query<{ id: string; metrics: unknown }>(
        `SELECT device_id::text AS id, metrics FROM telemetry
          WHERE device_id = ANY($1::bigint[]) ORDER BY device_id`,
        [[deviceId, big]],
      );
      expect(stored).toEqual([
        { id: String(deviceId), metrics: awkward },
        { id: big, metrics: { n: 1 } },
      ]);
      await writer.close();
    }
  });

  it('isolates a row the database refuses by bisecting its batch', async () => {
    await pool.query(
      `ALTER TABLE telemetry ADD CONSTRAINT test_no_poison CHECK (NOT (metrics ? 'poison'))`,
    );
    try {
      const writer = new TelemetryWriter(pool);
      const rows = rowsFor(40);
      rows[17] = { ...rows[17]!, metrics: { poison: 1 } };
      const results = await addAll(writer, rows);
      expect(results[17]).toBeInstanceOf(TelemetryWriteError);
      expect(results.filter((r) => r === undefined)).toHaveLength(39);
      expect(writer.stats.failures).toBe(1);
      expect(await countRows(pool, rows[0]!.deviceId as number)).toBe(39);
      await writer.close();
    } finally {
      await pool.query('ALTER TABLE telemetry DROP CONSTRAINT test_no_poison');
    }
  });

  it('retries transient errors, then fails the batch so the caller does not acknowledge', async () => {
    let failuresLeft = 2;
    const flaky = flakyPool(pool, () => failuresLeft-- > 0);
    const writer = new TelemetryWriter(flaky, { method: 'insert', retryBaseMs: 1, maxRetries: 3 });
    const rows = rowsFor(10);
    expect(await addAll(writer, rows)).toEqual(rows.map(() => undefined));
    expect(writer.stats.retries).toBe(2);
    expect(await countRows(pool, rows[0]!.deviceId as number)).toBe(10);

    failuresLeft = 100;
    const lost = rowsFor(3);
    const results = await addAll(writer, lost);
    for (const r of results) {
      expect(r).toBeInstanceOf(TelemetryWriteError);
      expect(r!.message).toMatch(/after 3 retries: Connection terminated unexpectedly/);
    }
    expect(writer.stats.failures).toBe(3);
    expect(await countRows(pool, lost[0]!.deviceId as number)).toBe(0);
    await writer.close();
  });

  it('close() drains everything accepted, then refuses new rows', async () => {
    const writer = new TelemetryWriter(pool, { maxBatch: 500, maxDelayMs: 60_000 });
    const rows = rowsFor(1234);
    const results: Array<Error | undefined> = [];
    for (const row of rows) writer.add(row, (err) => results.push(err));
    await writer.close();
    expect(results).toHaveLength(1234);
    expect(results.every((r) => r === undefined)).toBe(true);
    expect(writer.buffered).toBe(0);
    expect(await countRows(pool, rows[0]!.deviceId as number)).toBe(1234);
    const late = await new Promise<Error | undefined>((resolve) => {
      writer.add(rowsFor(1)[0]!, resolve);
    });
    expect(late).toBeInstanceOf(TelemetryWriterClosedError);
  });

  it('exports its stats as Prometheus metrics', async () => {
    const writer = new TelemetryWriter(pool);
    await addAll(writer, rowsFor(7));
    const registry = new Registry();
    registerTelemetryMetrics(registry, writer);
    const text = await registry.metrics();
    expect(text).toContain('gito_ingest_rows_written_total 7');
    expect(text).toContain('gito_ingest_duplicates_total 0');
    expect(text).toContain('gito_ingest_write_failures_total 0');
    expect(text).toContain('gito_ingest_batch_rows_bucket{le="10"} 1');
    expect(text).toContain('gito_ingest_batch_rows_count 1');
    expect(text).toMatch(/gito_ingest_write_seconds_bucket\{le="\+Inf"\} 1/);
    expect(text).toContain('gito_ingest_rows_rejected_total{reason="out-of-range"} 0');
    await writer.close();
  });
});

/** A pool whose query() fails like a dropped connection while `fail()` says so. */
function flakyPool(pool: Pool, fail: () => boolean): Pool {
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'query') {
        return (...args: unknown[]) => {
          const sql = typeof args[0] === 'string' ? args[0] : '';
          if (sql.startsWith('INSERT INTO telemetry') && fail()) {
            return Promise.reject(new Error('Connection terminated unexpectedly'));
          }
          return (target.query as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
