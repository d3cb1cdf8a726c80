import { dashboard, queryVariable, stat, table, timeseries, variable } from '../build.ts';
import { POSTGRES } from '../datasources.ts';
import { BUCKET_ORIGIN, deviceInGroup, groupVariable, TENANT, tenantVariable } from '../sql.ts';
import type { Dashboard, FieldOverride } from '../types.ts';

const DEVICE = variable('device', 'sqlstring');
const METRIC = variable('metric', 'sqlstring');
/** '*' in the device variable: every device of the selected group. */
export const ALL_DEVICES = '*';

/**
 * date_bin on plain PostgreSQL (14+), time_bucket where TimescaleDB is installed: the hidden
 * `bucket` variable asks the database which one it has, so no one has to set a switch. Both take
 * (width, ts, origin).
 */
const BUCKET = `${variable('bucket', 'raw')}(make_interval(secs => $__interval_ms / 1000.0), t.ts, ${BUCKET_ORIGIN})`;

/** The selected metric's numeric value; other JSON types (strings, booleans) give NULL. */
const VALUE = `CASE WHEN jsonb_typeof(t.metrics -> ${METRIC}) = 'number' THEN (t.metrics ->> ${METRIC})::float8 END`;

const SELECTED = `d.tenant_id = ${TENANT} AND ${deviceInGroup('d.id')} AND (${DEVICE} = '${ALL_DEVICES}' OR d.external_id = ${DEVICE})`;

/** Readings of the selected devices in range with the selected metric as `v`. */
const READINGS = `(SELECT t.device_id, t.ts, ${VALUE} AS v FROM telemetry t JOIN devices d ON d.id = t.device_id WHERE $__timeFilter(t.ts) AND ${SELECTED}) t`;

/** The min and max series as the edges of a shaded band around the average. */
const BAND: FieldOverride[] = [
  {
    matcher: { id: 'byName', options: 'max' },
    properties: [
      { id: 'custom.fillBelowTo', value: 'min' },
      { id: 'custom.fillOpacity', value: 15 },
      { id: 'custom.lineWidth', value: 0 },
    ],
  },
  {
    matcher: { id: 'byName', options: 'min' },
    properties: [{ id: 'custom.lineWidth', value: 0 }],
  },
  {
    matcher: { id: 'byName', options: 'avg' },
    properties: [{ id: 'custom.lineWidth', value: 2 }],
  },
];

/** A metric of a device or a group over time, bucketed, with min/avg/max bands. */
export const telemetryTrends: Dashboard = dashboard({
  uid: 'gito-telemetry-trends',
  title: 'Gito: Telemetry trends',
  description:
    'One numeric metric of one device, or of every device of a group, over time: min/avg/max per bucket (time_bucket on TimescaleDB, date_bin otherwise), per-device averages and latest values.',
  from: 'now-6h',
  variables: [
    tenantVariable,
    groupVariable,
    queryVariable({
      name: 'device',
      label: 'Device',
      description: 'One device, or all devices of the selected group',
      datasource: POSTGRES,
      query: `
        SELECT '${ALL_DEVICES}' AS __value, 'All devices of the group' AS __text
        UNION ALL
        (SELECT d.external_id, coalesce(d.name, d.external_id) FROM devices d
         WHERE d.tenant_id = ${TENANT} AND ${deviceInGroup('d.id')}
         ORDER BY 2 LIMIT 1000)`,
    }),
    queryVariable({
      name: 'metric',
      label: 'Metric',
      description: 'Numeric metrics found in the latest readings of the selected devices',
      datasource: POSTGRES,
      sort: 1,
      query: `
        SELECT DISTINCT e.key AS metric
        FROM (SELECT t.metrics FROM telemetry t JOIN devices d ON d.id = t.device_id
              WHERE ${SELECTED} AND t.ts > now() - interval '1 day'
              ORDER BY t.ts DESC LIMIT 1000) s,
             jsonb_each(s.metrics) e
        WHERE jsonb_typeof(e.value) = 'number'
        ORDER BY 1`,
    }),
    queryVariable({
      name: 'bucket',
      label: 'Bucketing function',
      description: 'time_bucket where TimescaleDB is installed, date_bin otherwise (detected)',
      datasource: POSTGRES,
      hide: 2,
      query: `
        SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
                    THEN 'time_bucket' ELSE 'date_bin' END AS bucket`,
    }),
  ],
  sections: [
    {
      rows: [
        [
          timeseries({
            title: '$metric: min, average and max',
            description:
              'Per time bucket (the panel interval) over the selected device or all devices of the group: average line inside a min-max band.',
            w: 24,
            h: 10,
            overrides: BAND,
            queries: [
              {
                sql: `
                  SELECT ${BUCKET} AS "time", min(t.v) AS "min", avg(t.v) AS "avg", max(t.v) AS "max"
                  FROM ${READINGS}
                  WHERE t.v IS NOT NULL
                  GROUP BY 1
                  ORDER BY 1`,
              },
            ],
          }),
        ],
        [
          timeseries({
            title: '$metric per device (10 most recently seen)',
            description:
              'Average per bucket for each of the ten most recently seen selected devices.',
            w: 24,
            h: 9,
            queries: [
              {
                sql: `
                  SELECT ${BUCKET} AS "time", d.external_id AS metric, avg(t.v) AS "value"
                  FROM ${READINGS}
                  JOIN devices d ON d.id = t.device_id
                  WHERE t.v IS NOT NULL
                    AND d.id IN (SELECT d.id FROM devices d WHERE ${SELECTED}
                                 ORDER BY d.last_seen DESC NULLS LAST, d.id LIMIT 10)
                  GROUP BY 1, 2
                  ORDER BY 1`,
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Summary',
      rows: [
        [
          stat({
            title: '$metric in range',
            description:
              'Readings carrying the metric, devices they came from, and min/avg/max over the whole range.',
            w: 12,
            h: 6,
            textMode: 'value_and_name',
            queries: [
              {
                sql: `
                  SELECT count(t.v) AS "readings", count(DISTINCT t.device_id) AS "devices",
                         min(t.v) AS "min", avg(t.v) AS "avg", max(t.v) AS "max"
                  FROM ${READINGS}
                  WHERE t.v IS NOT NULL`,
              },
            ],
          }),
          table({
            title: 'Latest $metric per device',
            description:
              'The last reading of the metric in range for each selected device (up to 100).',
            w: 12,
            h: 6,
            queries: [
              {
                sql: `
                  SELECT DISTINCT ON (d.external_id) d.external_id AS "device", t.ts AS "time",
                         t.metrics -> ${METRIC} AS "value"
                  FROM telemetry t JOIN devices d ON d.id = t.device_id
                  WHERE $__timeFilter(t.ts) AND ${SELECTED} AND t.metrics -> ${METRIC} IS NOT NULL
                  ORDER BY d.external_id, t.ts DESC
                  LIMIT 100`,
              },
            ],
          }),
        ],
      ],
    },
  ],
});
