import { dashboard, sql, stat, table, timeseries, unitOf } from '../build.ts';
import {
  alertInGroup,
  BUCKET_ORIGIN,
  deliveryInGroup,
  deviceInGroup,
  groupVariable,
  SEVERITY_ORDER,
  TENANT,
  tenantVariable,
} from '../sql.ts';
import type { Dashboard } from '../types.ts';

/**
 * Acknowledgement targets per severity, in minutes. Edit here and run
 * `npx tsx scripts/gen-dashboards.ts` to change them (docs/grafana.md).
 */
export const ACK_TARGET_MINUTES = {
  critical: 5,
  major: 15,
  minor: 60,
  warning: 240,
  info: 1440,
} as const;

const TARGETS = `ack_target(severity, minutes) AS (VALUES ${Object.entries(ACK_TARGET_MINUTES)
  .map(([s, m]) => `('${s}', ${m})`)
  .join(', ')})`;

/**
 * Alerts opened in range that someone was meant to act on: suppressed alerts (maintenance,
 * inhibition, flapping) notify no one, so they do not count against response times.
 */
function counted(join = ''): string {
  return `alerts a${join} WHERE a.tenant_id = ${TENANT} AND ${alertInGroup('a')} AND $__timeFilter(a.opened_at) AND a.suppressed IS NULL`;
}
const WITH_TARGET = ' JOIN ack_target t ON t.severity = a.severity';
const WITH_RULE = ' JOIN rules r ON r.tenant_id = a.tenant_id AND r.id = a.rule_id';

const TTA = 'extract(epoch FROM a.acknowledged_at - a.opened_at)';
const TTR = 'extract(epoch FROM a.resolved_at - a.opened_at)';
const DUE = 'a.opened_at + make_interval(mins => t.minutes)';
/**
 * Within target: acknowledged before the target passed. Decided alerts are those acknowledged,
 * or still unacknowledged when the target passed; an alert that resolved on its own before its
 * target, or is open and not yet due, is left out.
 */
const MET = `count(*) FILTER (WHERE a.acknowledged_at <= ${DUE})`;
const DECIDED = `count(*) FILTER (WHERE a.acknowledged_at IS NOT NULL OR coalesce(a.resolved_at, now()) > ${DUE})`;
const WITHIN_TARGET = `100.0 * ${MET} / nullif(${DECIDED}, 0)`;

/** Deliveries of the tenant in range (and `join`); group filter through the delivery's alert. */
function deliveries(timeColumn: string, join = ''): string {
  return `notification_deliveries nd${join} WHERE nd.tenant_id = ${TENANT} AND $__timeFilter(${timeColumn}) AND ${deliveryInGroup('nd')}`;
}

const SLOT_SECONDS = 300;
/** Five-minute slots in range in which a device sent at least one reading, and slots it existed. */
const UPTIME_PER_DEVICE = sql`
  SELECT d.external_id, coalesce(d.name, '') AS name,
         least(s.slots, e.expected) AS slots, e.expected
  FROM devices d
  CROSS JOIN LATERAL (
    SELECT count(DISTINCT date_bin('${SLOT_SECONDS} seconds', t.ts, ${BUCKET_ORIGIN})) AS slots
    FROM telemetry t WHERE t.device_id = d.id AND $__timeFilter(t.ts)) s
  CROSS JOIN LATERAL (
    SELECT greatest(1, ceil(extract(epoch FROM $__timeTo()::timestamptz
                            - greatest($__timeFrom()::timestamptz, d.created_at)) / ${SLOT_SECONDS})) AS expected) e
  WHERE d.tenant_id = ${TENANT} AND ${deviceInGroup('d.id')} AND d.enabled
    AND d.created_at < $__timeTo()::timestamptz`;

/** Response times, acknowledgement targets, notification delivery and device uptime. */
export const slaTracking: Dashboard = dashboard({
  uid: 'gito-sla-tracking',
  title: 'Gito: SLA tracking',
  description:
    'Mean time to acknowledge and to resolve per severity and rule, the share of alerts acknowledged within target, notification delivery success and latency by channel, and device uptime.',
  from: 'now-7d',
  refresh: '5m',
  variables: [tenantVariable, groupVariable],
  sections: [
    {
      rows: [
        [
          stat({
            title: 'Mean time to acknowledge / resolve',
            description:
              'Over alerts opened in range and not suppressed: mean time from open to first acknowledgement and to resolution.',
            w: 8,
            unit: 's',
            textMode: 'value_and_name',
            queries: [
              {
                sql: `
                  SELECT avg(${TTA}) AS "MTTA", avg(${TTR}) AS "MTTR"
                  FROM ${counted()}`,
              },
            ],
          }),
          stat({
            title: 'Acknowledged within target',
            description: `Share of decided alerts acknowledged within their severity's target (${Object.entries(
              ACK_TARGET_MINUTES,
            )
              .map(([s, m]) => `${s} ${m} min`)
              .join(', ')}).`,
            w: 8,
            unit: 'percent',
            decimals: 1,
            thresholds: [
              { color: 'red', value: null },
              { color: 'orange', value: 90 },
              { color: 'green', value: 99 },
            ],
            queries: [
              {
                sql: `
                  WITH ${TARGETS}
                  SELECT ${WITHIN_TARGET} AS "within target"
                  FROM ${counted(WITH_TARGET)}`,
              },
            ],
          }),
          stat({
            title: 'Alerts in range',
            description:
              'Alerts opened in range (not suppressed), and how many of them were acknowledged and resolved.',
            w: 8,
            textMode: 'value_and_name',
            queries: [
              {
                sql: `
                  SELECT count(*) AS "opened", count(a.acknowledged_at) AS "acknowledged",
                         count(a.resolved_at) AS "resolved"
                  FROM ${counted()}`,
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Response times',
      rows: [
        [
          table({
            title: 'By severity',
            description:
              'Mean and 90th percentile times to acknowledge and resolve, target and share within it, per severity.',
            w: 12,
            overrides: [
              ...unitOf(['MTTA', 'TTA p90', 'MTTR', 'TTR p90'], 's'),
              ...unitOf(['within target'], 'percent'),
              ...unitOf(['target'], 'm'),
            ],
            queries: [
              {
                sql: `
                  WITH ${TARGETS}
                  SELECT a.severity AS "severity", count(*) AS "alerts",
                         avg(${TTA}) AS "MTTA",
                         percentile_cont(0.9) WITHIN GROUP (ORDER BY ${TTA}) AS "TTA p90",
                         avg(${TTR}) AS "MTTR",
                         percentile_cont(0.9) WITHIN GROUP (ORDER BY ${TTR}) AS "TTR p90",
                         max(t.minutes) AS "target", ${WITHIN_TARGET} AS "within target"
                  FROM ${counted(WITH_TARGET)}
                  GROUP BY a.severity
                  ORDER BY array_position(${SEVERITY_ORDER}, a.severity)`,
              },
            ],
          }),
          table({
            title: 'By rule',
            description:
              'Mean times to acknowledge and resolve and the share within target, per rule (most alerts first).',
            w: 12,
            overrides: [...unitOf(['MTTA', 'MTTR'], 's'), ...unitOf(['within target'], 'percent')],
            queries: [
              {
                sql: `
                  WITH ${TARGETS}
                  SELECT r.name AS "rule", count(*) AS "alerts", avg(${TTA}) AS "MTTA", avg(${TTR}) AS "MTTR",
                         ${WITHIN_TARGET} AS "within target"
                  FROM ${counted(WITH_TARGET + WITH_RULE)}
                  GROUP BY r.id, r.name
                  ORDER BY 2 DESC, 1
                  LIMIT 50`,
              },
            ],
          }),
        ],
        [
          timeseries({
            title: 'MTTA and MTTR over time',
            description:
              'Mean times to acknowledge and resolve of the alerts opened in each interval.',
            w: 12,
            unit: 's',
            queries: [
              {
                sql: `
                  SELECT $__timeGroupAlias(a.opened_at, $__interval), avg(${TTA}) AS "MTTA", avg(${TTR}) AS "MTTR"
                  FROM ${counted()}
                  GROUP BY 1
                  ORDER BY 1`,
              },
            ],
          }),
          timeseries({
            title: 'Acknowledged within target over time',
            description: 'Share within target of the alerts opened in each interval.',
            w: 12,
            unit: 'percent',
            min: 0,
            max: 100,
            queries: [
              {
                sql: `
                  WITH ${TARGETS}
                  SELECT $__timeGroupAlias(a.opened_at, $__interval), ${WITHIN_TARGET} AS "within target"
                  FROM ${counted(WITH_TARGET)}
                  GROUP BY 1
                  ORDER BY 1`,
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Notification delivery',
      rows: [
        [
          table({
            title: 'Delivery success by channel',
            description:
              'Deliveries created in range by channel and outcome; success = delivered / (delivered + failed); attempts include retries.',
            w: 12,
            overrides: unitOf(['success'], 'percent'),
            queries: [
              {
                sql: `
                  SELECT nd.channel AS "channel", count(*) AS "deliveries",
                         count(*) FILTER (WHERE nd.status = 'delivered') AS "delivered",
                         count(*) FILTER (WHERE nd.status = 'failed') AS "failed",
                         count(*) FILTER (WHERE nd.status = 'cancelled') AS "cancelled",
                         count(*) FILTER (WHERE nd.status IN ('pending', 'sending')) AS "in progress",
                         100.0 * count(*) FILTER (WHERE nd.status = 'delivered')
                           / nullif(count(*) FILTER (WHERE nd.status IN ('delivered', 'failed')), 0) AS "success",
                         round(avg(nd.attempts)::numeric, 2) AS "attempts per delivery"
                  FROM ${deliveries('nd.created_at')}
                  GROUP BY nd.channel
                  ORDER BY nd.channel`,
              },
            ],
          }),
          table({
            title: 'Delivery latency by channel',
            description:
              'Delivered firing notifications: time from the alert opening, and from the delivery being queued, to the provider accepting it.',
            w: 12,
            overrides: unitOf(
              [
                'from open p50',
                'from open p95',
                'from open p99',
                'from queue p50',
                'from queue p95',
              ],
              's',
            ),
            queries: [
              {
                sql: `
                  SELECT nd.channel AS "channel", count(*) AS "delivered",
                         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM nd.finished_at - a.opened_at)) AS "from open p50",
                         percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM nd.finished_at - a.opened_at)) AS "from open p95",
                         percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM nd.finished_at - a.opened_at)) AS "from open p99",
                         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM nd.finished_at - nd.created_at)) AS "from queue p50",
                         percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM nd.finished_at - nd.created_at)) AS "from queue p95"
                  FROM ${deliveries('nd.finished_at', ' JOIN alerts a ON a.id = nd.alert_id')}
                    AND nd.status = 'delivered' AND nd.event = 'firing'
                  GROUP BY nd.channel
                  ORDER BY nd.channel`,
              },
            ],
          }),
        ],
        [
          timeseries({
            title: 'Delivery success rate by channel',
            description: 'Per interval, by time of completion: delivered / (delivered + failed).',
            w: 12,
            unit: 'percent',
            min: 0,
            max: 100,
            queries: [
              {
                sql: `
                  SELECT $__timeGroupAlias(nd.finished_at, $__interval), nd.channel AS metric,
                         100.0 * count(*) FILTER (WHERE nd.status = 'delivered')
                           / nullif(count(*) FILTER (WHERE nd.status IN ('delivered', 'failed')), 0) AS "value"
                  FROM ${deliveries('nd.finished_at')}
                  GROUP BY 1, 2
                  ORDER BY 1`,
              },
            ],
          }),
          timeseries({
            title: 'Delivery latency p95 by channel',
            description: 'Per interval: 95th percentile of the time from queueing to delivery.',
            w: 12,
            unit: 's',
            queries: [
              {
                sql: `
                  SELECT $__timeGroupAlias(nd.finished_at, $__interval), nd.channel AS metric,
                         percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM nd.finished_at - nd.created_at)) AS "value"
                  FROM ${deliveries('nd.finished_at')} AND nd.status = 'delivered'
                  GROUP BY 1, 2
                  ORDER BY 1`,
              },
            ],
          }),
        ],
        [
          table({
            title: 'Failed attempts by error',
            description:
              'Attempts started in range that did not deliver, by channel, outcome and provider or system code.',
            w: 12,
            queries: [
              {
                sql: `
                  SELECT nd.channel AS "channel", na.status AS "outcome",
                         coalesce(na.error_code, na.response_code::text, '') AS "code",
                         count(*) AS "attempts", max(na.started_at) AS "last"
                  FROM ${deliveries('na.started_at', ' JOIN notification_attempts na ON na.delivery_id = nd.id')}
                    AND na.status IN ('retryable', 'permanent', 'abandoned')
                  GROUP BY 1, 2, 3
                  ORDER BY 4 DESC, 1, 2, 3
                  LIMIT 25`,
              },
            ],
          }),
          table({
            title: 'Attempt duration by channel',
            description: 'How long one attempt (one call to the provider) took, started in range.',
            w: 12,
            overrides: unitOf(['p50', 'p95', 'max'], 'ms'),
            queries: [
              {
                sql: `
                  SELECT nd.channel AS "channel", count(*) AS "attempts",
                         percentile_cont(0.5) WITHIN GROUP (ORDER BY na.duration_ms) AS "p50",
                         percentile_cont(0.95) WITHIN GROUP (ORDER BY na.duration_ms) AS "p95",
                         max(na.duration_ms) AS "max"
                  FROM ${deliveries('na.started_at', ' JOIN notification_attempts na ON na.delivery_id = nd.id')}
                    AND na.duration_ms IS NOT NULL
                  GROUP BY 1
                  ORDER BY 1`,
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Device uptime',
      rows: [
        [
          stat({
            title: 'Fleet uptime',
            description: `Share of ${SLOT_SECONDS / 60}-minute slots in range (from each device's creation) in which enabled devices sent at least one reading.`,
            w: 8,
            h: 8,
            unit: 'percent',
            decimals: 2,
            thresholds: [
              { color: 'red', value: null },
              { color: 'orange', value: 95 },
              { color: 'green', value: 99 },
            ],
            queries: [
              {
                sql: sql`
                  SELECT 100.0 * sum(u.slots) / nullif(sum(u.expected), 0) AS "uptime"
                  FROM (
                    ${UPTIME_PER_DEVICE}
                  ) u`,
              },
            ],
          }),
          table({
            title: 'Lowest uptime',
            description: 'The 25 enabled devices with the lowest uptime in range.',
            w: 16,
            h: 8,
            overrides: unitOf(['uptime'], 'percent'),
            queries: [
              {
                sql: sql`
                  SELECT u.external_id AS "device", u.name AS "name",
                         round(100.0 * u.slots / u.expected, 2) AS "uptime", u.slots AS "slots with data",
                         u.expected AS "slots"
                  FROM (
                    ${UPTIME_PER_DEVICE}
                  ) u
                  ORDER BY 3, 1
                  LIMIT 25`,
              },
            ],
          }),
        ],
      ],
    },
  ],
});
