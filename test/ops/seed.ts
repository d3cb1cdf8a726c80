import type { Pool } from 'pg';

/**
 * A small tenant history for the dashboard queries, written straight into the tables (as the
 * ingest path, rule actors and dispatchers would have): tenant `acme` with two groups, twelve
 * devices in every status, six hours of telemetry, three rules, alerts over three days in every
 * state with their events, and notification deliveries with attempts. Tenant `globex` exists
 * with one device and nothing else (queries must run on an empty tenant too).
 */
export const SEED = {
  tenant: 'acme',
  emptyTenant: 'globex',
  groups: ['floor-1', 'floor-2'],
  devices: 12,
  /** Devices 1-10 report every 10 minutes for 6 hours. */
  reportingDevices: 10,
  telemetryHours: 6,
  metric: 'temperature',
  alerts: 24,
} as const;

const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'info'] as const;
const SUPPRESSION = ['maintenance', 'inhibited', 'flapping'] as const;

export const deviceKey = (n: number): string => `sensor-${String(n).padStart(2, '0')}`;

/** Whether the 0005 notification tables exist (they arrive with issue 6). */
export async function hasNotificationTables(pool: Pool): Promise<boolean> {
  const { rows } = await pool.query<{ ok: boolean }>(
    `SELECT to_regclass('notification_deliveries') IS NOT NULL
        AND to_regclass('notification_attempts') IS NOT NULL AS ok`,
  );
  return rows[0]?.ok === true;
}

export async function seedDashboardData(pool: Pool, now: Date): Promise<{ groupIds: string[] }> {
  const at = (minutesAgo: number) => new Date(now.getTime() - minutesAgo * 60_000);
  const { tenant, emptyTenant } = SEED;
  await pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'ACME Corp'), ($2, 'Globex')`, [
    tenant,
    emptyTenant,
  ]);
  await pool.query(
    `INSERT INTO devices (tenant_id, external_id, created_at) VALUES ($1, 'lonely', $2)`,
    [emptyTenant, at(3 * 24 * 60)],
  );

  const groupIds: string[] = [];
  for (const name of SEED.groups) {
    const { rows } = await pool.query<{ id: string }>(
      'INSERT INTO device_groups (tenant_id, name) VALUES ($1, $2) RETURNING id::text',
      [tenant, name],
    );
    groupIds.push(rows[0]!.id);
  }

  const deviceIds: string[] = [];
  for (let n = 1; n <= SEED.devices; n++) {
    const status = n <= 7 ? 'online' : n <= 10 ? 'offline' : n === 11 ? 'unknown' : 'online';
    const lastSeen =
      status === 'online' ? at(n * 3) : status === 'offline' ? at(600 + n * 60) : null;
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO devices (tenant_id, external_id, name, type, enabled, status, last_seen, battery,
                            firmware, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id::text`,
      [
        tenant,
        deviceKey(n),
        `Sensor ${n}`,
        n % 3 === 0 ? 'door' : 'thermo',
        n !== 12,
        status,
        lastSeen,
        n === 11 ? null : (n * 9) % 100,
        n === 11 ? null : n % 2 === 1 ? '1.0.0' : '1.1.0',
        at(2 * 24 * 60),
      ],
    );
    deviceIds.push(rows[0]!.id);
    // Devices 1-6 in floor-1, 6-12 in floor-2 (6 is in both).
    const groups = n < 6 ? [0] : n === 6 ? [0, 1] : [1];
    for (const g of groups) {
      await pool.query(
        'INSERT INTO device_group_members (tenant_id, group_id, device_id) VALUES ($1, $2, $3)',
        [tenant, groupIds[g], rows[0]!.id],
      );
    }
  }

  // Telemetry: numeric metrics plus a string one (which the trend queries must skip).
  await pool.query(
    `INSERT INTO telemetry (device_id, ts, metrics)
     SELECT d.id::bigint, $2::timestamptz - make_interval(mins => m * 10),
            jsonb_build_object('temperature', 20 + (m % 7) + d.n, 'humidity', 40 + m % 11,
                               'door', CASE WHEN m % 2 = 0 THEN 'open' ELSE 'closed' END)
     FROM unnest($1::bigint[]) WITH ORDINALITY AS d(id, n),
          generate_series(0, $3::int - 1) AS m`,
    [deviceIds.slice(0, SEED.reportingDevices), now, (SEED.telemetryHours * 60) / 10],
  );

  const ruleIds: string[] = [];
  for (const name of ['High temperature', 'Low battery', 'Door open']) {
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO rules (tenant_id, name, definition) VALUES ($1, $2, '{}') RETURNING id::text`,
      [tenant, name],
    );
    ruleIds.push(rows[0]!.id);
  }

  const open = new Set<string>();
  for (let k = 0; k < SEED.alerts; k++) {
    const ruleId = ruleIds[k % ruleIds.length]!;
    // The last alert is an aggregate (no device).
    const device = k === SEED.alerts - 1 ? null : deviceKey((k % SEED.reportingDevices) + 1);
    const severity = SEVERITIES[k % SEVERITIES.length]!;
    const openedAt = at(k * 180 + 10);
    let state: 'active' | 'acknowledged' | 'resolved' =
      k % 4 === 0 ? 'active' : k % 4 === 1 ? 'acknowledged' : 'resolved';
    // One open alert per (rule, device): a second one is recorded as resolved.
    const key = `${ruleId}/${device ?? ''}`;
    if (state !== 'resolved' && open.has(key)) state = 'resolved';
    if (state !== 'resolved') open.add(key);
    const acknowledgedAt =
      state === 'acknowledged' || k % 4 === 2 ? at(k * 180 + 10 - (k % 9) * 2) : null;
    const resolvedAt = state === 'resolved' ? at(k * 180 + 10 - 30 - k) : null;
    const suppressed = k % 7 === 3 ? SUPPRESSION[((k / 7) % 3) | 0]! : null;
    const flapping = k % 5 === 2;
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO alerts (tenant_id, rule_id, rule_version, device_key, state, severity, suppressed,
                           flapping, opened_at, last_at, count, acknowledged_at, acknowledged_by,
                           resolved_at, resolved_by)
       VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13) RETURNING id::text`,
      [
        tenant,
        ruleId,
        device,
        state,
        severity,
        suppressed,
        flapping,
        openedAt,
        1 + (k % 4),
        acknowledgedAt,
        acknowledgedAt === null ? null : 'user:1',
        resolvedAt,
        resolvedAt === null ? null : 'system',
      ],
    );
    const alertId = rows[0]!.id;
    const events: Array<[string, Date, object]> = [['opened', openedAt, {}]];
    if (suppressed !== null) events.push(['suppressed', openedAt, { reason: suppressed }]);
    if (flapping) events.push(['flapping', at(k * 180 + 5), {}]);
    if (acknowledgedAt !== null) events.push(['acknowledged', acknowledgedAt, {}]);
    if (resolvedAt !== null) events.push(['resolved', resolvedAt, { reason: 'cleared' }]);
    for (const [type, when, details] of events) {
      await pool.query(
        `INSERT INTO alert_events (tenant_id, alert_id, type, actor, at, details)
         VALUES ($1, $2, $3, 'system', $4, $5)`,
        [tenant, alertId, type, when, JSON.stringify(details)],
      );
    }
    if (await hasNotificationTables(pool)) {
      await seedDeliveries(pool, tenant, alertId, k, openedAt);
    }
  }
  return { groupIds };
}

const CHANNELS = ['email', 'sms', 'slack'] as const;

async function seedDeliveries(
  pool: Pool,
  tenant: string,
  alertId: string,
  k: number,
  openedAt: Date,
): Promise<void> {
  for (const [c, channel] of CHANNELS.entries()) {
    const status = (k + c) % 5 === 4 ? 'failed' : (k + c) % 7 === 6 ? 'pending' : 'delivered';
    const createdAt = new Date(openedAt.getTime() + 200);
    const finishedAt =
      status === 'pending'
        ? null
        : new Date(openedAt.getTime() + 1000 + ((k * 37 + c * 11) % 50) * 100);
    const attempts = status === 'failed' ? 2 : status === 'pending' ? 0 : 1 + ((k + c) % 2);
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO notification_deliveries (tenant_id, alert_id, channel, event, recipient,
         target_sealed, payload, idempotency_key, status, attempts, max_attempts, next_attempt_at,
         deadline, created_at, finished_at, last_error)
       VALUES ($1, $2, $3, 'firing', $4, 'sealed', '{}', $5, $6, $7, 5, $8, $9, $8, $10, $11)
       RETURNING id::text`,
      [
        tenant,
        alertId,
        channel,
        `${channel}:ops`,
        `alert-${alertId}-${channel}`,
        status,
        attempts,
        createdAt,
        new Date(createdAt.getTime() + 3_600_000),
        finishedAt,
        status === 'failed' ? 'permanent failure' : null,
      ],
    );
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const last = attempt === attempts;
      const outcome = !last ? 'retryable' : status === 'failed' ? 'permanent' : 'delivered';
      await pool.query(
        `INSERT INTO notification_attempts (delivery_id, attempt, node, started_at, duration_ms,
           status, response_code, error_code, error)
         VALUES ($1, $2, 'node-1', $3, $4, $5, $6, $7, $8)`,
        [
          rows[0]!.id,
          attempt,
          new Date(createdAt.getTime() + (attempt - 1) * 500),
          80 + ((k * 13 + attempt) % 40) * 10,
          outcome,
          outcome === 'delivered' ? 200 : outcome === 'permanent' ? 400 : null,
          outcome === 'retryable' ? 'ETIMEDOUT' : null,
          outcome === 'delivered' ? null : 'provider refused',
        ],
      );
    }
  }
}
