import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * A histogram kept as plain numbers (observing costs a loop over a few bounds) and exported as a
 * Prometheus histogram at scrape time. Counts are per bucket (non-cumulative) plus overflow.
 */
export class PlainHistogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** Rows per written batch. */
export const BATCH_ROWS_BUCKETS = [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000];
/** Seconds from taking a batch off the buffer to its commit (or final failure). */
export const WRITE_SECONDS_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** What the telemetry writer counts (plain numbers on the hot path). */
export class TelemetryWriterStats {
  /** Rows inserted (a duplicate is not counted here). */
  rowsWritten = 0;
  /** Batches that reached the database and committed (fully or after isolating bad rows). */
  batches = 0;
  /** Rows that were already stored (a redelivered message): acknowledged, not inserted. */
  duplicates = 0;
  /** Rows whose write failed for good (after retries): their callbacks got an error. */
  failures = 0;
  /** Rows refused because no telemetry partition covers their ts. */
  outOfRange = 0;
  /** Rows refused by validation (bad device id, ts or metrics). */
  invalid = 0;
  /** Write attempts repeated after a transient error. */
  retries = 0;
  /** Batches that left COPY for INSERT ... ON CONFLICT (duplicates, or COPY unavailable). */
  copyFallbacks = 0;
  readonly batchRows = new PlainHistogram(BATCH_ROWS_BUCKETS);
  readonly writeSeconds = new PlainHistogram(WRITE_SECONDS_BUCKETS);
}

/** What registerTelemetryMetrics reads. TelemetryWriter implements it. */
export interface TelemetryMetricsSource {
  readonly stats: TelemetryWriterStats;
  /** Rows accepted and not yet settled (queued plus in flight). */
  readonly buffered: number;
}

/**
 * Registers the telemetry writer's metrics on `registry`, read at scrape time:
 * gito_ingest_batch_rows and gito_ingest_write_seconds (histograms),
 * gito_ingest_rows_written_total, gito_ingest_duplicates_total, gito_ingest_write_failures_total,
 * gito_ingest_rows_rejected_total{reason="out-of-range"|"invalid"}, gito_ingest_write_retries_total
 * and gito_ingest_buffered_rows.
 */
export function registerTelemetryMetrics(registry: Registry, writer: TelemetryMetricsSource): void {
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  counter(
    'gito_ingest_rows_written_total',
    'Telemetry rows inserted and committed',
    () => writer.stats.rowsWritten,
  );
  counter(
    'gito_ingest_duplicates_total',
    'Telemetry rows already stored (redelivered messages), acknowledged without insert',
    () => writer.stats.duplicates,
  );
  counter(
    'gito_ingest_write_failures_total',
    'Telemetry rows whose write failed after retries (not acknowledged; the broker redelivers)',
    () => writer.stats.failures,
  );
  counter(
    'gito_ingest_write_retries_total',
    'Telemetry batch writes retried after a transient error',
    () => writer.stats.retries,
  );
  new Counter({
    name: 'gito_ingest_rows_rejected_total',
    help: 'Telemetry rows refused by the writer, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ reason: 'out-of-range' }, writer.stats.outOfRange);
      this.inc({ reason: 'invalid' }, writer.stats.invalid);
    },
  });
  new Gauge({
    name: 'gito_ingest_buffered_rows',
    help: 'Telemetry rows accepted by the writer and not yet committed',
    registers: [registry],
    collect() {
      this.set(writer.buffered);
    },
  });
  // prom-client types registerMetric() for its own Metric class; it only needs name and get().
  registry.registerMetric(
    histogramOf('gito_ingest_batch_rows', 'Rows per telemetry batch write', () => {
      return writer.stats.batchRows;
    }) as never,
  );
  registry.registerMetric(
    histogramOf(
      'gito_ingest_write_seconds',
      'Telemetry batch write time, from leaving the buffer to commit',
      () => writer.stats.writeSeconds,
    ) as never,
  );
}

/** prom-client's Histogram cannot take pre-aggregated counts: speak its metric interface. */
function histogramOf(name: string, help: string, read: () => PlainHistogram) {
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset() {},
    async get() {
      const h = read();
      const values: Array<{
        metricName: string;
        labels: Record<string, string | number>;
        value: number;
      }> = [];
      let cumulative = 0;
      for (let i = 0; i <= h.bounds.length; i++) {
        cumulative += h.counts[i]!;
        const le = i < h.bounds.length ? h.bounds[i]! : '+Inf';
        values.push({ metricName: `${name}_bucket`, labels: { le }, value: cumulative });
      }
      values.push({ metricName: `${name}_sum`, labels: {}, value: h.sum });
      values.push({ metricName: `${name}_count`, labels: {}, value: h.count });
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
}
