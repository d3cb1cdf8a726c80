import { bargauge, dashboard, stat, table, timeseries } from '../build.ts';
import { alertInGroup, groupVariable, TENANT, tenantVariable } from '../sql.ts';
import type { Dashboard } from '../types.ts';

const ALERTS = `alerts a WHERE a.tenant_id = ${TENANT} AND ${alertInGroup('a')}`;
const OPENED_IN_RANGE = `${ALERTS} AND $__timeFilter(a.opened_at)`;
/** Events of one type in range, joined to their alert `a` (and `join`, before the WHERE). */
function eventsInRange(type: string, join = ''): string {
  return `alert_events e JOIN alerts a ON a.id = e.alert_id${join} WHERE e.tenant_id = ${TENANT} AND e.type = '${type}' AND $__timeFilter(e.at) AND ${alertInGroup('a')}`;
}
const RULE_OF_ALERT = ' JOIN rules r ON r.tenant_id = a.tenant_id AND r.id = a.rule_id';

/** How often alerts open, which rules and devices are noisy, flapping and suppression. */
export const alertFrequency: Dashboard = dashboard({
  uid: 'gito-alert-frequency',
  title: 'Gito: Alert frequency',
  description:
    'Alerts opened by severity and rule over time, the noisiest rules and devices, flapping, and suppression by maintenance or inhibition (from the alerts and alert_events tables).',
  from: 'now-7d',
  variables: [tenantVariable, groupVariable],
  sections: [
    {
      rows: [
        [
          stat({
            title: 'Open alerts by severity',
            description: 'Alerts not yet resolved (active or acknowledged), now.',
            w: 12,
            textMode: 'value_and_name',
            queries: [
              {
                sql: `
                  SELECT count(*) FILTER (WHERE a.severity = 'critical') AS "critical",
                         count(*) FILTER (WHERE a.severity = 'major') AS "major",
                         count(*) FILTER (WHERE a.severity = 'minor') AS "minor",
                         count(*) FILTER (WHERE a.severity = 'warning') AS "warning",
                         count(*) FILTER (WHERE a.severity = 'info') AS "info"
                  FROM ${ALERTS} AND a.state <> 'resolved'`,
              },
            ],
          }),
          stat({
            title: 'In range',
            description:
              'Alerts opened in the time range; open alerts currently suppressed (maintenance, inhibition, flapping) and currently flapping.',
            w: 12,
            textMode: 'value_and_name',
            queries: [
              {
                sql: `
                  SELECT count(*) FILTER (WHERE $__timeFilter(a.opened_at)) AS "opened",
                         count(*) FILTER (WHERE a.state <> 'resolved' AND a.suppressed IS NOT NULL) AS "suppressed now",
                         count(*) FILTER (WHERE a.state <> 'resolved' AND a.flapping) AS "flapping now"
                  FROM ${ALERTS}`,
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Over time',
      rows: [
        [
          timeseries({
            title: 'Alerts opened by severity',
            description: 'New alerts per interval, stacked by severity.',
            w: 12,
            bars: true,
            stack: true,
            queries: [
              {
                sql: `
                  SELECT $__timeGroupAlias(a.opened_at, $__interval), a.severity AS metric, count(*) AS "value"
                  FROM ${OPENED_IN_RANGE}
                  GROUP BY 1, 2
                  ORDER BY 1`,
              },
            ],
          }),
          timeseries({
            title: 'Alerts opened by rule (top 10)',
            description: 'New alerts per interval for the ten rules that opened the most in range.',
            w: 12,
            bars: true,
            stack: true,
            queries: [
              {
                sql: `
                  SELECT $__timeGroupAlias(a.opened_at, $__interval), r.name AS metric, count(*) AS "value"
                  FROM alerts a JOIN rules r ON r.tenant_id = a.tenant_id AND r.id = a.rule_id
                  WHERE a.tenant_id = ${TENANT} AND ${alertInGroup('a')} AND $__timeFilter(a.opened_at)
                    AND a.rule_id IN (
                      SELECT a.rule_id FROM ${OPENED_IN_RANGE}
                      GROUP BY a.rule_id ORDER BY count(*) DESC LIMIT 10)
                  GROUP BY 1, 2
                  ORDER BY 1`,
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Noisiest',
      rows: [
        [
          table({
            title: 'Noisiest rules',
            description:
              'Rules by alerts opened in range; breaches counts repeats folded into open alerts.',
            w: 12,
            h: 9,
            queries: [
              {
                sql: `
                  SELECT r.name AS "rule", count(*) AS "alerts opened", sum(a.count) AS "breaches",
                         count(*) FILTER (WHERE a.state <> 'resolved') AS "open",
                         count(*) FILTER (WHERE a.flapping) AS "flapping",
                         count(DISTINCT a.device_key) AS "devices", max(a.last_at) AS "last"
                  FROM alerts a JOIN rules r ON r.tenant_id = a.tenant_id AND r.id = a.rule_id
                  WHERE a.tenant_id = ${TENANT} AND ${alertInGroup('a')} AND $__timeFilter(a.opened_at)
                  GROUP BY r.id, r.name
                  ORDER BY 2 DESC, 1
                  LIMIT 20`,
              },
            ],
          }),
          table({
            title: 'Noisiest devices',
            description:
              'Devices by alerts opened in range (aggregate alerts, which have no device, excluded).',
            w: 12,
            h: 9,
            queries: [
              {
                sql: `
                  SELECT a.device_key AS "device", coalesce(max(d.name), '') AS "name",
                         count(*) AS "alerts opened", count(DISTINCT a.rule_id) AS "rules",
                         sum(a.count) AS "breaches", max(a.last_at) AS "last"
                  FROM alerts a
                  LEFT JOIN devices d ON d.tenant_id = a.tenant_id AND d.external_id = a.device_key
                  WHERE a.tenant_id = ${TENANT} AND ${alertInGroup('a')} AND $__timeFilter(a.opened_at)
                    AND a.device_key IS NOT NULL
                  GROUP BY a.device_key
                  ORDER BY 3 DESC, 1
                  LIMIT 20`,
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Flapping and suppression',
      rows: [
        [
          table({
            title: 'Flapping',
            description:
              'Alerts that started flapping in range (alert_events of type flapping), by rule and device.',
            w: 8,
            queries: [
              {
                sql: `
                  SELECT r.name AS "rule", coalesce(a.device_key, '(aggregate)') AS "device",
                         count(*) AS "flapping episodes", max(e.at) AS "last"
                  FROM ${eventsInRange('flapping', RULE_OF_ALERT)}
                  GROUP BY 1, 2
                  ORDER BY 3 DESC, 1, 2
                  LIMIT 20`,
              },
            ],
          }),
          timeseries({
            title: 'Suppressions by reason',
            description:
              'Alerts that became suppressed per interval, by reason (maintenance, inhibited, flapping).',
            w: 8,
            bars: true,
            stack: true,
            queries: [
              {
                sql: `
                  SELECT $__timeGroupAlias(e.at, $__interval), coalesce(e.details ->> 'reason', 'unknown') AS metric,
                         count(*) AS "value"
                  FROM ${eventsInRange('suppressed')}
                  GROUP BY 1, 2
                  ORDER BY 1`,
              },
            ],
          }),
          bargauge({
            title: 'Suppressed in range by reason',
            description: 'Suppression events in the time range, by reason.',
            w: 8,
            queries: [
              {
                sql: `
                  SELECT coalesce(e.details ->> 'reason', 'unknown') AS "reason", count(*) AS "suppressions"
                  FROM ${eventsInRange('suppressed')}
                  GROUP BY 1
                  ORDER BY 2 DESC, 1`,
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Rule engine (all tenants)',
      rows: [
        [
          timeseries({
            title: 'Alert events/s by event',
            description:
              'Alert lifecycle changes committed per second across the cluster (Prometheus: gito_alert_events_total).',
            w: 12,
            unit: 'ops',
            queries: [
              {
                expr: 'sum by (event) (rate(gito_alert_events_total[$__rate_interval]))',
                legend: '{{event}}',
              },
            ],
          }),
          timeseries({
            title: 'Alerts opened/s by severity',
            description: 'Alerts opened per second across the cluster, by severity (Prometheus).',
            w: 12,
            unit: 'ops',
            queries: [
              {
                expr: 'sum by (severity) (rate(gito_alert_events_total{event="opened"}[$__rate_interval]))',
                legend: '{{severity}}',
              },
            ],
          }),
        ],
        [
          timeseries({
            title: 'Rule evaluations and reports/s',
            description:
              'Per-device rule evaluations per second (one rule, one reading or tick), and breach/clear reports sent from devices to rule actors, by state.',
            w: 12,
            unit: 'ops',
            queries: [
              {
                expr: 'sum(rate(gito_rule_evaluations_total[$__rate_interval]))',
                legend: 'evaluations',
              },
              {
                expr: 'sum by (state) (rate(gito_rule_reports_total[$__rate_interval]))',
                legend: 'reports {{state}}',
              },
            ],
          }),
          timeseries({
            title: 'Suppressed/s by reason',
            description:
              'Alert changes suppressed per second: by reason (gito_alert_suppressed_total) and by severity (suppressed events).',
            w: 12,
            unit: 'ops',
            queries: [
              {
                expr: 'sum by (reason) (rate(gito_alert_suppressed_total[$__rate_interval]))',
                legend: '{{reason}}',
              },
              {
                expr: 'sum by (severity) (rate(gito_alert_events_total{event="suppressed"}[$__rate_interval]))',
                legend: 'suppressed {{severity}}',
              },
            ],
          }),
        ],
      ],
    },
  ],
});
