import {
  dashboard,
  piechart,
  stat,
  table,
  textboxVariable,
  timeseries,
  unitOf,
  variable,
} from '../build.ts';
import { deviceInGroup, groupVariable, TENANT, tenantVariable } from '../sql.ts';
import type { Dashboard } from '../types.ts';

const BATTERY_LOW = `${variable('battery_low', 'sqlstring')}::real`;
const DEVICES = `devices d WHERE d.tenant_id = ${TENANT} AND ${deviceInGroup('d.id')}`;

/** Online/offline counts and trend, silent and low-battery devices, firmware, groups. */
export const deviceStatus: Dashboard = dashboard({
  uid: 'gito-device-status',
  title: 'Gito: Device status',
  description:
    "Connectivity, battery and firmware of a tenant's devices (from the devices table, which device actors keep current) and how many report over time.",
  variables: [
    tenantVariable,
    groupVariable,
    textboxVariable({
      name: 'battery_low',
      label: 'Battery low below (%)',
      description: 'Devices reporting a battery level under this are listed as low',
      value: '20',
    }),
  ],
  sections: [
    {
      rows: [
        [
          stat({
            title: 'Devices by status',
            description:
              'Enabled devices by last known connectivity: online, offline (silent longer than GITO_DEVICE_OFFLINE_AFTER_MS) or never seen; and how many are disabled.',
            w: 12,
            textMode: 'value_and_name',
            queries: [
              {
                sql: `
                  SELECT count(*) FILTER (WHERE d.enabled AND d.status = 'online') AS "online",
                         count(*) FILTER (WHERE d.enabled AND d.status = 'offline') AS "offline",
                         count(*) FILTER (WHERE d.enabled AND d.status = 'unknown') AS "never seen",
                         count(*) FILTER (WHERE NOT d.enabled) AS "disabled"
                  FROM ${DEVICES}`,
              },
            ],
          }),
          stat({
            title: 'Online share',
            description:
              'Online devices among the enabled devices that have been seen at least once.',
            w: 6,
            unit: 'percent',
            decimals: 1,
            thresholds: [
              { color: 'red', value: null },
              { color: 'orange', value: 90 },
              { color: 'green', value: 98 },
            ],
            queries: [
              {
                sql: `
                  SELECT 100.0 * count(*) FILTER (WHERE d.status = 'online')
                         / nullif(count(*) FILTER (WHERE d.status <> 'unknown'), 0) AS "online"
                  FROM ${DEVICES} AND d.enabled`,
              },
            ],
          }),
          stat({
            title: 'Battery low',
            description:
              'Enabled devices whose last reported battery level is below the threshold.',
            w: 6,
            thresholds: [
              { color: 'green', value: null },
              { color: 'orange', value: 1 },
            ],
            queries: [
              {
                sql: `
                  SELECT count(*) AS "battery low"
                  FROM ${DEVICES} AND d.enabled AND d.battery < ${BATTERY_LOW}`,
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Trend',
      rows: [
        [
          timeseries({
            title: 'Devices reporting',
            description:
              'Devices that sent at least one reading in each interval, and the enabled devices that did not (a proxy for online/offline over time: the devices table holds only the current status).',
            w: 16,
            stack: true,
            queries: [
              {
                sql: `
                  SELECT $__timeGroupAlias(t.ts, $__interval),
                         count(DISTINCT t.device_id) AS "reporting",
                         (SELECT count(*) FROM ${DEVICES} AND d.enabled) - count(DISTINCT t.device_id) AS "silent"
                  FROM telemetry t
                  JOIN devices d ON d.id = t.device_id
                  WHERE $__timeFilter(t.ts) AND d.tenant_id = ${TENANT} AND ${deviceInGroup('d.id')}
                  GROUP BY 1
                  ORDER BY 1`,
              },
            ],
          }),
          timeseries({
            title: 'Online/offline transitions (all tenants)',
            description:
              'Devices going online or offline per interval, across the cluster (Prometheus: gito_device_transitions_total; not split by tenant to keep label cardinality bounded).',
            w: 8,
            bars: true,
            queries: [
              {
                expr: 'sum by (to) (increase(gito_device_transitions_total[$__rate_interval]))',
                legend: '{{to}}',
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Needs attention',
      rows: [
        [
          table({
            title: 'Silent longest',
            description:
              'Enabled devices by time since they were last seen, longest first (never seen on top).',
            w: 12,
            h: 9,
            overrides: unitOf(['silent for'], 's'),
            queries: [
              {
                sql: `
                  SELECT d.external_id AS "device", coalesce(d.name, '') AS "name", d.status AS "status",
                         d.last_seen AS "last seen",
                         extract(epoch FROM now() - d.last_seen)::bigint AS "silent for"
                  FROM ${DEVICES} AND d.enabled
                  ORDER BY d.last_seen ASC NULLS FIRST, d.external_id
                  LIMIT 25`,
              },
            ],
          }),
          table({
            title: 'Devices with low battery',
            description: 'Enabled devices under the battery threshold, lowest first.',
            w: 12,
            h: 9,
            overrides: unitOf(['battery'], 'percent'),
            queries: [
              {
                sql: `
                  SELECT d.external_id AS "device", coalesce(d.name, '') AS "name", d.battery AS "battery",
                         d.status AS "status", d.last_seen AS "last seen"
                  FROM ${DEVICES} AND d.enabled AND d.battery < ${BATTERY_LOW}
                  ORDER BY d.battery, d.external_id
                  LIMIT 50`,
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Fleet',
      rows: [
        [
          piechart({
            title: 'Firmware versions',
            description: 'Devices per reported firmware version (the 20 most common).',
            w: 8,
            queries: [
              {
                sql: `
                  SELECT coalesce(d.firmware, 'unknown') AS "firmware", count(*) AS "devices"
                  FROM ${DEVICES}
                  GROUP BY 1
                  ORDER BY 2 DESC, 1
                  LIMIT 20`,
              },
            ],
          }),
          table({
            title: 'Per group',
            description:
              'Every group of the tenant with its devices by status (a device in several groups counts in each).',
            w: 16,
            footer: true,
            queries: [
              {
                sql: `
                  SELECT g.name AS "group", count(d.id) AS "devices",
                         count(d.id) FILTER (WHERE d.status = 'online') AS "online",
                         count(d.id) FILTER (WHERE d.status = 'offline') AS "offline",
                         count(d.id) FILTER (WHERE d.status = 'unknown') AS "never seen",
                         count(d.id) FILTER (WHERE d.battery < ${BATTERY_LOW}) AS "battery low",
                         max(d.last_seen) AS "last seen"
                  FROM device_groups g
                  LEFT JOIN device_group_members m ON m.group_id = g.id
                  LEFT JOIN devices d ON d.id = m.device_id AND d.enabled
                  WHERE g.tenant_id = ${TENANT}
                  GROUP BY g.id, g.name
                  ORDER BY g.name`,
              },
            ],
          }),
        ],
        [
          table({
            title: 'Per device type',
            description: 'Devices by type and status in the selected group.',
            w: 24,
            h: 6,
            queries: [
              {
                sql: `
                  SELECT coalesce(d.type, '(none)') AS "type", count(*) AS "devices",
                         count(*) FILTER (WHERE d.status = 'online') AS "online",
                         count(*) FILTER (WHERE d.status = 'offline') AS "offline",
                         count(*) FILTER (WHERE d.status = 'unknown') AS "never seen",
                         round(avg(d.battery)::numeric, 1) AS "average battery"
                  FROM ${DEVICES} AND d.enabled
                  GROUP BY 1
                  ORDER BY 2 DESC, 1`,
              },
            ],
          }),
        ],
      ],
    },
  ],
});
