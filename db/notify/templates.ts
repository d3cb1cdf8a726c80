import type { NotificationEvent } from './deliveries.ts';
import type { Queryable } from './sql.ts';

/**
 * A tenant's template overrides (notification_templates). Syntax is checked by
 * actors/notify/templates before saving; rows that break later fall back to the defaults.
 */

export interface TemplateOverride {
  readonly id: string;
  readonly tenantId: string;
  readonly channel: string;
  /** '*' = every event. */
  readonly event: NotificationEvent | '*';
  /** '*' = every severity. */
  readonly severity: string;
  readonly title: string;
  readonly body: string;
}

export type TemplateOverrideInput = Omit<TemplateOverride, 'id'>;

interface Row {
  id: string;
  tenant_id: string;
  channel: string;
  event: NotificationEvent | '*';
  severity: string;
  title: string;
  body: string;
}

const COLUMNS = 'id::text AS id, tenant_id, channel, event, severity, title, body';

const toOverride = (r: Row): TemplateOverride => ({
  id: r.id,
  tenantId: r.tenant_id,
  channel: r.channel,
  event: r.event,
  severity: r.severity,
  title: r.title,
  body: r.body,
});

export async function listTemplateOverrides(
  db: Queryable,
  tenantId: string,
): Promise<TemplateOverride[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM notification_templates WHERE tenant_id = $1
      ORDER BY channel, event, severity`,
    [tenantId],
  );
  return rows.map(toOverride);
}

/** Inserts or replaces the override of (tenant, channel, event, severity). */
export async function upsertTemplateOverride(
  db: Queryable,
  input: TemplateOverrideInput,
): Promise<TemplateOverride> {
  const { rows } = await db.query<Row>(
    `INSERT INTO notification_templates (tenant_id, channel, event, severity, title, body)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT ON CONSTRAINT notification_templates_key
       DO UPDATE SET title = excluded.title, body = excluded.body
     RETURNING ${COLUMNS}`,
    [input.tenantId, input.channel, input.event, input.severity, input.title, input.body],
  );
  return toOverride(rows[0]!);
}

export async function deleteTemplateOverride(
  db: Queryable,
  tenantId: string,
  id: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    'DELETE FROM notification_templates WHERE tenant_id = $1 AND id = $2',
    [tenantId, id],
  );
  return rowCount === 1;
}
