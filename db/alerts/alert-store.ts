import type { Pool, PoolClient } from 'pg';
import { inTransaction, msColumn, msParam } from './tx.ts';

export type AlertState = 'active' | 'acknowledged' | 'resolved';
export type SuppressionReason = 'maintenance' | 'inhibited' | 'flapping';
export type AlertSeverity = 'critical' | 'major' | 'minor' | 'warning' | 'info';

/** Event types written to alert_events and alert_outbox. */
export type AlertEventType =
  | 'opened'
  | 'severity'
  | 'acknowledged'
  | 'resolved'
  | 'suppressed'
  | 'unsuppressed'
  | 'flapping'
  | 'settled'
  | 'devices'
  | 'delivery_failed';

export interface Alert {
  readonly id: string;
  readonly tenantId: string;
  readonly ruleId: string;
  readonly ruleVersion: number;
  readonly deviceKey: string | null;
  readonly state: AlertState;
  readonly severity: AlertSeverity;
  readonly suppressed: SuppressionReason | null;
  readonly flapping: boolean;
  readonly openedAt: number;
  readonly lastAt: number;
  readonly count: number;
  readonly lastValues: Record<string, unknown>;
  readonly devices: readonly string[] | null;
  readonly acknowledgedAt: number | null;
  readonly acknowledgedBy: string | null;
  readonly resolvedAt: number | null;
  readonly resolvedBy: string | null;
  readonly resolveReason: string | null;
}

export interface AlertEvent {
  readonly id: string;
  readonly alertId: string;
  readonly type: AlertEventType;
  readonly actor: string;
  readonly at: number;
  readonly details: Record<string, unknown>;
}

/** What the rule actor asks for: the alert of (rule, device) is open with these facts. */
export interface OpenAlertInput {
  readonly tenantId: string;
  readonly ruleId: string;
  readonly ruleVersion: number;
  /** null for aggregate rules (one alert per rule). */
  readonly deviceKey: string | null;
  readonly severity: AlertSeverity;
  readonly at: number;
  readonly values: Record<string, unknown>;
  /** Aggregates: the devices counted now. */
  readonly devices?: readonly string[];
  readonly suppressed: SuppressionReason | null;
  readonly flapping: boolean;
  /** true when this is a new breach (count + 1); false for a pure facts update. */
  readonly repeat: boolean;
}

export interface AlertFilter {
  readonly states?: readonly AlertState[];
  readonly severities?: readonly AlertSeverity[];
  readonly ruleId?: string;
  readonly deviceKey?: string;
  /** true: only suppressed; false: only not suppressed. */
  readonly suppressed?: boolean;
  /** Opened at or after (ms). */
  readonly from?: number;
  /** Opened before (ms). */
  readonly to?: number;
  readonly beforeId?: string;
  readonly limit: number;
}

export interface AlertChange {
  readonly alert: Alert;
  /** Events written by this change (also in the outbox). */
  readonly events: readonly AlertEvent[];
}

const SYSTEM = 'system';

interface AlertRow {
  id: string;
  tenant_id: string;
  rule_id: string;
  rule_version: number;
  device_key: string | null;
  state: AlertState;
  severity: AlertSeverity;
  suppressed: SuppressionReason | null;
  flapping: boolean;
  opened_ms: string;
  last_ms: string;
  count: number;
  last_values: Record<string, unknown>;
  devices: string[] | null;
  acked_ms: string | null;
  acknowledged_by: string | null;
  resolved_ms: string | null;
  resolved_by: string | null;
  resolve_reason: string | null;
}

const ALERT_COLUMNS = `id::text, tenant_id, rule_id::text, rule_version, device_key, state, severity,
  suppressed, flapping, ${msColumn('opened_at')} AS opened_ms, ${msColumn('last_at')} AS last_ms,
  count, last_values, devices, ${msColumn('acknowledged_at')} AS acked_ms, acknowledged_by,
  ${msColumn('resolved_at')} AS resolved_ms, resolved_by, resolve_reason`;

const num = (s: string | null) => (s === null ? null : Number(s));

function toAlert(row: AlertRow): Alert {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    ruleId: row.rule_id,
    ruleVersion: row.rule_version,
    deviceKey: row.device_key,
    state: row.state,
    severity: row.severity,
    suppressed: row.suppressed,
    flapping: row.flapping,
    openedAt: Number(row.opened_ms),
    lastAt: Number(row.last_ms),
    count: row.count,
    lastValues: row.last_values,
    devices: row.devices,
    acknowledgedAt: num(row.acked_ms),
    acknowledgedBy: row.acknowledged_by,
    resolvedAt: num(row.resolved_ms),
    resolvedBy: row.resolved_by,
    resolveReason: row.resolve_reason,
  };
}

/** Thrown for a refused lifecycle step (unknown alert, already resolved...). */
export class AlertTransitionError extends Error {
  constructor(
    message: string,
    readonly code: 'not-found' | 'resolved',
  ) {
    super(message);
    this.name = 'AlertTransitionError';
  }
}

/**
 * Alerts, their events and the outbox, always changed together in one transaction
 * (docs/alerting.md, decision 4). One open alert per (rule, device): the partial unique index
 * alerts_one_open backs what the rule actor already guarantees by owning its rule.
 */
export class AlertStore {
  constructor(private readonly pool: Pool) {}

  /** Opens the alert of (rule, device), or updates the open one. */
  async open(input: OpenAlertInput): Promise<AlertChange> {
    // The common case, a new alert, is one statement (alert, event and outbox row commit
    // together; one round trip). An open alert already there takes the locking path below.
    const created = await this.insertNew(input);
    if (created !== undefined) return created;
    return inTransaction(this.pool, async (client) => {
      const current = await this.lockOpen(client, input.ruleId, input.deviceKey);
      const events: AlertEvent[] = [];
      if (current === undefined) {
        const { rows } = await client.query<AlertRow>(
          `INSERT INTO alerts (tenant_id, rule_id, rule_version, device_key, severity, suppressed,
             flapping, opened_at, last_at, last_values, devices)
           VALUES ($1, $2, $3, $4, $5, $6, $7, ${msParam(8)}, ${msParam(8)}, $9, $10)
           RETURNING ${ALERT_COLUMNS}`,
          [
            input.tenantId,
            input.ruleId,
            input.ruleVersion,
            input.deviceKey,
            input.severity,
            input.suppressed,
            input.flapping,
            input.at,
            JSON.stringify(input.values),
            input.devices === undefined ? null : JSON.stringify(input.devices),
          ],
        );
        const alert = toAlert(rows[0] as AlertRow);
        events.push(
          await this.event(client, alert, 'opened', SYSTEM, input.at, {
            severity: input.severity,
            values: input.values,
            suppressed: input.suppressed,
            ...(input.devices === undefined ? {} : { devices: input.devices }),
          }),
        );
        return { alert, events };
      }
      const { rows } = await client.query<AlertRow>(
        `UPDATE alerts SET severity = $2, suppressed = $3, flapping = $4, last_at = ${msParam(5)},
           last_values = $6, devices = coalesce($7, devices), count = count + $8,
           rule_version = $9
         WHERE id = $1 RETURNING ${ALERT_COLUMNS}`,
        [
          current.id,
          input.severity,
          input.suppressed,
          input.flapping,
          input.at,
          JSON.stringify(input.values),
          input.devices === undefined ? null : JSON.stringify(input.devices),
          input.repeat ? 1 : 0,
          input.ruleVersion,
        ],
      );
      const alert = toAlert(rows[0] as AlertRow);
      if (current.severity !== alert.severity) {
        events.push(
          await this.event(client, alert, 'severity', SYSTEM, input.at, {
            from: current.severity,
            to: alert.severity,
          }),
        );
      }
      if (current.suppressed !== alert.suppressed) {
        const type = alert.suppressed === null ? 'unsuppressed' : 'suppressed';
        events.push(
          await this.event(client, alert, type, SYSTEM, input.at, {
            reason: alert.suppressed ?? current.suppressed,
          }),
        );
      }
      if (current.flapping !== alert.flapping) {
        events.push(
          await this.event(
            client,
            alert,
            alert.flapping ? 'flapping' : 'settled',
            SYSTEM,
            input.at,
            {},
          ),
        );
      }
      if (input.devices !== undefined && !sameSet(current.devices ?? [], input.devices)) {
        events.push(
          await this.event(client, alert, 'devices', SYSTEM, input.at, { devices: input.devices }),
        );
      }
      return { alert, events };
    });
  }

  /** Inserts a new open alert with its 'opened' event and outbox row; undefined if one is open. */
  private async insertNew(input: OpenAlertInput): Promise<AlertChange | undefined> {
    const details = {
      severity: input.severity,
      values: input.values,
      suppressed: input.suppressed,
      ...(input.devices === undefined ? {} : { devices: input.devices }),
    };
    const { rows } = await this.pool.query<AlertRow & { event_id: string }>(
      `WITH a AS (
         INSERT INTO alerts (tenant_id, rule_id, rule_version, device_key, severity, suppressed,
           flapping, opened_at, last_at, last_values, devices)
         VALUES ($1, $2, $3, $4, $5, $6, $7, ${msParam(8)}, ${msParam(8)}, $9, $10)
         ON CONFLICT (rule_id, coalesce(device_key, '')) WHERE state <> 'resolved' DO NOTHING
         RETURNING *
       ), e AS (
         INSERT INTO alert_events (tenant_id, alert_id, type, actor, at, details)
         SELECT tenant_id, id, 'opened', $11, opened_at, $12 FROM a
         RETURNING id
       ), o AS (
         INSERT INTO alert_outbox (tenant_id, alert_id, event_id, type, payload)
         SELECT a.tenant_id, a.id, e.id, 'opened',
           jsonb_build_object('event', jsonb_build_object('id', e.id::text, 'alertId', a.id::text,
             'type', 'opened', 'actor', $11::text, 'at', $8::bigint, 'details', $12::jsonb),
             'alert', $13::jsonb || jsonb_build_object('id', a.id::text))
         FROM a, e
       )
       SELECT ${ALERT_COLUMNS.replace(/\bid::text/, 'a.id::text')}, e.id::text AS event_id
       FROM a, e`,
      [
        input.tenantId,
        input.ruleId,
        input.ruleVersion,
        input.deviceKey,
        input.severity,
        input.suppressed,
        input.flapping,
        input.at,
        JSON.stringify(input.values),
        input.devices === undefined ? null : JSON.stringify(input.devices),
        SYSTEM,
        JSON.stringify(details),
        JSON.stringify(this.snapshotOfNew(input)),
      ],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const alert = toAlert(row);
    const event: AlertEvent = {
      id: row.event_id,
      alertId: alert.id,
      type: 'opened',
      actor: SYSTEM,
      at: input.at,
      details,
    };
    return { alert, events: [event] };
  }

  /** The outbox's alert snapshot of a new alert (the same fields toAlert gives, but the id). */
  private snapshotOfNew(input: OpenAlertInput): Omit<Alert, 'id'> {
    return {
      tenantId: input.tenantId,
      ruleId: input.ruleId,
      ruleVersion: input.ruleVersion,
      deviceKey: input.deviceKey,
      state: 'active',
      severity: input.severity,
      suppressed: input.suppressed,
      flapping: input.flapping,
      openedAt: input.at,
      lastAt: input.at,
      count: 1,
      lastValues: input.values,
      devices: input.devices === undefined ? null : [...input.devices],
      acknowledgedAt: null,
      acknowledgedBy: null,
      resolvedAt: null,
      resolvedBy: null,
      resolveReason: null,
    };
  }

  /** Resolves the open alert of (rule, device), if any. */
  async resolveOpen(
    ruleId: string,
    deviceKey: string | null,
    at: number,
    reason: string,
    by: string = SYSTEM,
  ): Promise<AlertChange | undefined> {
    return inTransaction(this.pool, async (client) => {
      const current = await this.lockOpen(client, ruleId, deviceKey);
      if (current === undefined) return undefined;
      return this.resolveLocked(client, current, at, reason, by);
    });
  }

  /** Resolves an alert by id (an operator's action). */
  async resolve(
    tenantId: string,
    alertId: string,
    by: string,
    at: number,
    reason = 'resolved by user',
  ): Promise<AlertChange> {
    return inTransaction(this.pool, async (client) => {
      const current = await this.lockById(client, tenantId, alertId);
      if (current.state === 'resolved') {
        throw new AlertTransitionError(`alert ${alertId} is already resolved`, 'resolved');
      }
      return this.resolveLocked(client, current, at, reason, by);
    });
  }

  /** Acknowledges an open alert; acknowledging an acknowledged alert changes nothing. */
  async acknowledge(
    tenantId: string,
    alertId: string,
    by: string,
    at: number,
  ): Promise<AlertChange> {
    return inTransaction(this.pool, async (client) => {
      const current = await this.lockById(client, tenantId, alertId);
      if (current.state === 'resolved') {
        throw new AlertTransitionError(`alert ${alertId} is already resolved`, 'resolved');
      }
      if (current.state === 'acknowledged') return { alert: current, events: [] };
      const { rows } = await client.query<AlertRow>(
        `UPDATE alerts SET state = 'acknowledged', acknowledged_at = ${msParam(2)},
           acknowledged_by = $3 WHERE id = $1 RETURNING ${ALERT_COLUMNS}`,
        [current.id, at, by],
      );
      const alert = toAlert(rows[0] as AlertRow);
      return { alert, events: [await this.event(client, alert, 'acknowledged', by, at, {})] };
    });
  }

  /**
   * Records an event on an alert inside the caller's transaction (the delivery dispatcher's
   * failure hook: on the embedded database only that connection may be used).
   */
  async noteWith(
    client: PoolClient,
    alertId: string,
    type: AlertEventType,
    actor: string,
    at: number,
    details: Record<string, unknown>,
  ): Promise<AlertEvent | undefined> {
    const { rows } = await client.query<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = $1`,
      [alertId],
    );
    const row = rows[0];
    return row === undefined
      ? undefined
      : this.event(client, toAlert(row), type, actor, at, details);
  }

  /** Records an event on an alert without changing it (e.g. a delivery that failed for good). */
  async note(
    alertId: string,
    type: AlertEventType,
    actor: string,
    at: number,
    details: Record<string, unknown>,
  ): Promise<AlertEvent> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<AlertRow>(
        `SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = $1`,
        [alertId],
      );
      const row = rows[0];
      if (row === undefined)
        throw new AlertTransitionError(`alert ${alertId} not found`, 'not-found');
      return this.event(client, toAlert(row), type, actor, at, details);
    });
  }

  async get(tenantId: string, alertId: string): Promise<Alert | undefined> {
    const { rows } = await this.pool.query<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM alerts WHERE tenant_id = $1 AND id = $2`,
      [tenantId, alertId],
    );
    return rows[0] === undefined ? undefined : toAlert(rows[0]);
  }

  /** Newest first; `beforeId` pages on. Reads limit + 1 to tell whether more exist. */
  async list(tenantId: string, filter: AlertFilter): Promise<{ items: Alert[]; more: boolean }> {
    const where = ['tenant_id = $1'];
    const params: unknown[] = [tenantId];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.states !== undefined) add('state = ANY(?::text[])', filter.states);
    if (filter.severities !== undefined) add('severity = ANY(?::text[])', filter.severities);
    if (filter.ruleId !== undefined) add('rule_id = ?::bigint', filter.ruleId);
    if (filter.deviceKey !== undefined) add('device_key = ?', filter.deviceKey);
    if (filter.suppressed !== undefined) {
      where.push(filter.suppressed ? 'suppressed IS NOT NULL' : 'suppressed IS NULL');
    }
    const at = "timestamptz 'epoch' + ?::bigint * interval '1 millisecond'";
    if (filter.from !== undefined) add(`opened_at >= ${at}`, filter.from);
    if (filter.to !== undefined) add(`opened_at < ${at}`, filter.to);
    if (filter.beforeId !== undefined) add('id < ?::bigint', filter.beforeId);
    params.push(filter.limit + 1);
    const { rows } = await this.pool.query<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM alerts WHERE ${where.join(' AND ')}
       ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    return { items: rows.slice(0, filter.limit).map(toAlert), more: rows.length > filter.limit };
  }

  /** Open (active or acknowledged) alerts of a rule. */
  async openOfRule(ruleId: string): Promise<Alert[]> {
    const { rows } = await this.pool.query<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM alerts WHERE rule_id = $1 AND state <> 'resolved' ORDER BY id`,
      [ruleId],
    );
    return rows.map(toAlert);
  }

  async events(alertId: string): Promise<AlertEvent[]> {
    const { rows } = await this.pool.query<EventRow>(
      `SELECT id::text, alert_id::text, type, actor, ${msColumn('at')} AS at_ms, details
       FROM alert_events WHERE alert_id = $1 ORDER BY id`,
      [alertId],
    );
    return rows.map(toEvent);
  }

  private async resolveLocked(
    client: PoolClient,
    current: Alert,
    at: number,
    reason: string,
    by: string,
  ): Promise<AlertChange> {
    const { rows } = await client.query<AlertRow>(
      `UPDATE alerts SET state = 'resolved', resolved_at = ${msParam(2)}, resolved_by = $3,
         resolve_reason = $4 WHERE id = $1 RETURNING ${ALERT_COLUMNS}`,
      [current.id, at, by, reason],
    );
    const alert = toAlert(rows[0] as AlertRow);
    return { alert, events: [await this.event(client, alert, 'resolved', by, at, { reason })] };
  }

  private async lockOpen(
    client: PoolClient,
    ruleId: string,
    deviceKey: string | null,
  ): Promise<Alert | undefined> {
    const { rows } = await client.query<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM alerts
       WHERE rule_id = $1 AND coalesce(device_key, '') = coalesce($2, '') AND state <> 'resolved'
       FOR UPDATE`,
      [ruleId, deviceKey],
    );
    return rows[0] === undefined ? undefined : toAlert(rows[0]);
  }

  private async lockById(client: PoolClient, tenantId: string, alertId: string): Promise<Alert> {
    const { rows } = await client.query<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM alerts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
      [tenantId, alertId],
    );
    const row = rows[0];
    if (row === undefined)
      throw new AlertTransitionError(`alert ${alertId} not found`, 'not-found');
    return toAlert(row);
  }

  /** Inserts the event and its outbox row (same transaction as the change). */
  private async event(
    client: PoolClient,
    alert: Alert,
    type: AlertEventType,
    actor: string,
    at: number,
    details: Record<string, unknown>,
  ): Promise<AlertEvent> {
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO alert_events (tenant_id, alert_id, type, actor, at, details)
       VALUES ($1, $2, $3, $4, ${msParam(5)}, $6) RETURNING id::text`,
      [alert.tenantId, alert.id, type, actor, at, JSON.stringify(details)],
    );
    const id = (rows[0] as { id: string }).id;
    const event: AlertEvent = { id, alertId: alert.id, type, actor, at, details };
    await client.query(
      `INSERT INTO alert_outbox (tenant_id, alert_id, event_id, type, payload)
       VALUES ($1, $2, $3, $4, $5)`,
      [alert.tenantId, alert.id, id, type, JSON.stringify({ event, alert })],
    );
    return event;
  }
}

interface EventRow {
  id: string;
  alert_id: string;
  type: AlertEventType;
  actor: string;
  at_ms: string;
  details: Record<string, unknown>;
}

function toEvent(row: EventRow): AlertEvent {
  return {
    id: row.id,
    alertId: row.alert_id,
    type: row.type,
    actor: row.actor,
    at: Number(row.at_ms),
    details: row.details,
  };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((x) => set.has(x));
}
