import type { Queryable, Slice } from './common.ts';

/**
 * Telemetry history of one device. The caller has already found the device in its tenant
 * (devices.id is only ever taken from a tenant-scoped lookup), since telemetry rows carry no
 * tenant of their own.
 */

export interface TelemetryPoint {
  readonly ts: string;
  readonly metrics: Record<string, number | string | boolean>;
}

/** Position in a newest-first page: the row's time in microseconds since the epoch. */
export type TelemetryCursor = string;

/**
 * Raw readings in [from, to), newest first. `before` (a cursor from the previous page) continues
 * below that reading; `metrics` keeps only those keys (rows without any are skipped).
 */
export async function listTelemetry(
  db: Queryable,
  deviceId: string,
  f: {
    from: Date;
    to: Date;
    before?: TelemetryCursor;
    metrics?: readonly string[];
    limit: number;
  },
): Promise<Slice<TelemetryPoint> & { last?: TelemetryCursor }> {
  const params: unknown[] = [deviceId, f.from, f.to, f.limit + 1];
  let where = 'device_id = $1::bigint AND ts >= $2 AND ts < $3';
  if (f.before !== undefined) {
    params.push(f.before);
    where += ` AND ts < timestamptz 'epoch' + $${params.length}::bigint * interval '1 microsecond'`;
  }
  let select = 'metrics';
  if (f.metrics !== undefined && f.metrics.length > 0) {
    params.push([...f.metrics]);
    const p = `$${params.length}::text[]`;
    select = `(SELECT jsonb_object_agg(k, v) FROM jsonb_each(metrics) AS e(k, v) WHERE k = ANY(${p}))`;
    where += ` AND metrics ?| ${p}`;
  }
  const { rows } = await db.query<{ ts: Date; us: string; metrics: TelemetryPoint['metrics'] }>(
    `SELECT ts, (extract(epoch FROM ts) * 1000000)::bigint::text AS us, ${select} AS metrics
       FROM telemetry WHERE ${where} ORDER BY ts DESC LIMIT $4`,
    params,
  );
  const more = rows.length > f.limit;
  const page = more ? rows.slice(0, f.limit) : rows;
  return {
    items: page.map((r) => ({ ts: r.ts.toISOString(), metrics: r.metrics })),
    more,
    ...(page.length > 0 ? { last: page[page.length - 1]!.us } : {}),
  };
}

export interface MetricAggregate {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
  readonly count: number;
}

export interface TelemetryBucket {
  /** Start of the bucket (buckets are aligned to the Unix epoch). */
  readonly start: string;
  readonly metrics: Record<string, MetricAggregate>;
}

/**
 * min/avg/max/count of numeric metrics per time bucket (date_bin, aligned to the epoch) over
 * [from, to), oldest first. Buckets without a numeric reading are omitted. Non-numeric values
 * (strings, booleans) are not counted.
 */
export async function aggregateTelemetry(
  db: Queryable,
  deviceId: string,
  f: { from: Date; to: Date; bucketSeconds: number; metrics: readonly string[] },
): Promise<TelemetryBucket[]> {
  const { rows } = await db.query<{ start: Date; metrics: Record<string, MetricAggregate> }>(
    `SELECT bucket AS start,
            jsonb_object_agg(metric, jsonb_build_object('min', mn, 'avg', av, 'max', mx,
                                                        'count', n)) AS metrics
       FROM (SELECT bucket, metric, min(x) AS mn, avg(x) AS av, max(x) AS mx, count(*)::int AS n
               FROM (SELECT date_bin($4::bigint * interval '1 second', t.ts,
                                     timestamptz 'epoch') AS bucket,
                            m.key AS metric,
                            -- CASE guards the cast: strings and booleans never reach it.
                            CASE WHEN jsonb_typeof(t.metrics -> m.key) = 'number'
                                 THEN (t.metrics ->> m.key)::float8 END AS x
                       FROM telemetry t CROSS JOIN unnest($5::text[]) AS m(key)
                      WHERE t.device_id = $1::bigint AND t.ts >= $2 AND t.ts < $3
                        AND t.metrics ? m.key) AS readings
              WHERE x IS NOT NULL
              GROUP BY bucket, metric) AS per_metric
      GROUP BY bucket ORDER BY bucket`,
    [deviceId, f.from, f.to, f.bucketSeconds, [...f.metrics]],
  );
  return rows.map((r) => ({ start: r.start.toISOString(), metrics: r.metrics }));
}
