/**
 * SQL pieces shared by the PostgreSQL dashboards: the tenant and group variables and the filters
 * they drive. Variables are interpolated with Grafana's `sqlstring` format (quoted, quotes
 * doubled), so a value can never break out of its literal.
 */
import { queryVariable, variable } from './build.ts';
import { POSTGRES } from './datasources.ts';
import type { QueryVariable } from './types.ts';

/** The selected tenant id as a SQL literal. */
export const TENANT = variable('tenant', 'sqlstring');
/** The selected group id as a SQL literal; ALL_GROUPS selects every device of the tenant. */
export const GROUP = variable('group', 'sqlstring');
export const ALL_GROUPS = '0';

/** The origin of time buckets: a Monday, as TimescaleDB's time_bucket uses by default. */
export const BUCKET_ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'";

export const tenantVariable: QueryVariable = queryVariable({
  name: 'tenant',
  label: 'Tenant',
  description: 'The tenant whose devices, alerts and deliveries are shown',
  datasource: POSTGRES,
  query: 'SELECT id AS __value, name AS __text FROM tenants ORDER BY name, id',
});

export const groupVariable: QueryVariable = queryVariable({
  name: 'group',
  label: 'Device group',
  description: 'Limit to the devices of one group (alerts: of their device)',
  datasource: POSTGRES,
  query: `
    SELECT '${ALL_GROUPS}' AS __value, 'All devices' AS __text
    UNION ALL
    (SELECT g.id::text, g.name FROM device_groups g WHERE g.tenant_id = ${TENANT} ORDER BY g.name)`,
});

/** True when the device with id `deviceId` is in the selected group (or all are selected). */
export function deviceInGroup(deviceId: string): string {
  return `(${GROUP} = '${ALL_GROUPS}' OR EXISTS (SELECT 1 FROM device_group_members m WHERE m.device_id = ${deviceId} AND m.group_id = ${GROUP}::bigint))`;
}

/**
 * True when the alert `a` concerns a device of the selected group. Alerts name their device by
 * its key (external id); aggregate alerts (no device) show only under "All devices".
 */
export function alertInGroup(a: string): string {
  return `(${GROUP} = '${ALL_GROUPS}' OR ${alertDeviceInGroup(a)})`;
}

function alertDeviceInGroup(a: string): string {
  return `EXISTS (SELECT 1 FROM devices gd JOIN device_group_members m ON m.device_id = gd.id WHERE gd.tenant_id = ${a}.tenant_id AND gd.external_id = ${a}.device_key AND m.group_id = ${GROUP}::bigint)`;
}

/** True when the notification delivery `nd` is about an alert of the selected group. */
export function deliveryInGroup(nd: string): string {
  return `(${GROUP} = '${ALL_GROUPS}' OR EXISTS (SELECT 1 FROM alerts ga WHERE ga.id = ${nd}.alert_id AND ${alertDeviceInGroup('ga')}))`;
}

/** Severities from most to least urgent, for ORDER BY array_position(...). */
export const SEVERITY_ORDER = "ARRAY['critical', 'major', 'minor', 'warning', 'info']::text[]";
