import type { Pool } from 'pg';
import { AUDIT_COLUMNS, type AuditRow, recordOf, redactSecrets } from '../../db/audit/index.ts';
import { describeSchema, ident, type SchemaInfo } from './schema.ts';

export const EXPORT_FORMAT = 'gito.user-export.v1';

/** Rows of these tables that belong to the user (by user_id) are part of the export. */
export const PERSONAL_TABLES = ['contact_points', 'notification_preferences'] as const;

interface Subject {
  readonly tenantId: string;
  readonly userId: string;
  readonly keyIds: readonly string[];
}

/**
 * Everything held about a user, as one JSON document streamed in pieces: profile, API keys,
 * teams, contact points and preferences, notifications sent to their contact points, the alert
 * events they caused and those alerts, and the audit records they made or that concern them.
 * Tables that do not exist in this database are reported as empty lists. Secrets (password and
 * key hashes, sealed values) are redacted.
 *
 * Returns undefined when the user is not in the tenant (so the route can answer 404 before it
 * starts streaming).
 */
export async function userExport(
  pool: Pool,
  tenantId: string,
  userId: string,
  now: number,
): Promise<AsyncGenerator<string> | undefined> {
  const { rows } = await pool.query<{ user: Record<string, unknown> }>(
    'SELECT to_jsonb(u) AS user FROM users u WHERE tenant_id = $1 AND id = $2',
    [tenantId, userId],
  );
  const user = rows[0]?.user;
  if (user === undefined) return undefined;
  const schema = await describeSchema(pool);
  const keys = await pool.query<{ id: string }>(
    'SELECT id::text AS id FROM api_keys WHERE tenant_id = $1 AND user_id = $2',
    [tenantId, userId],
  );
  const subject: Subject = { tenantId, userId, keyIds: keys.rows.map((r) => r.id) };
  return documentOf(pool, schema, subject, user, now);
}

async function* documentOf(
  pool: Pool,
  schema: SchemaInfo,
  subject: Subject,
  user: Record<string, unknown>,
  now: number,
): AsyncGenerator<string> {
  const field = (name: string, value: unknown) =>
    `,${JSON.stringify(name)}:${JSON.stringify(value)}`;
  yield `{"format":${JSON.stringify(EXPORT_FORMAT)},"exportedAt":${JSON.stringify(new Date(now).toISOString())}`;
  yield field('tenantId', subject.tenantId);
  yield field('user', clean(user));
  yield field(
    'apiKeys',
    await rowsOf(
      pool,
      'SELECT to_jsonb(k) AS row FROM api_keys k WHERE tenant_id = $1 AND user_id = $2 ORDER BY id',
      [subject.tenantId, subject.userId],
    ),
  );
  yield field('teams', await teamsOf(pool, schema, subject));
  for (const table of PERSONAL_TABLES) {
    yield field(camel(table), await personalRows(pool, schema, table, subject));
  }
  yield field('notificationDeliveries', await deliveriesOf(pool, schema, subject));
  const events = await alertEventsOf(pool, schema, subject);
  yield field('alertEvents', events);
  yield field('alerts', await alertsOf(pool, schema, subject, events));
  yield ',"auditRecords":[';
  let first = true;
  for await (const record of auditRecordsOf(pool, subject)) {
    yield `${first ? '' : ','}${JSON.stringify(record)}`;
    first = false;
  }
  yield ']}\n';
}

function clean(row: unknown): unknown {
  return redactSecrets(row, { fields: ['target_sealed'] });
}

function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

async function rowsOf(pool: Pool, sql: string, params: unknown[]): Promise<unknown[]> {
  const { rows } = await pool.query<{ row: unknown }>(sql, params);
  return rows.map((r) => clean(r.row));
}

async function teamsOf(pool: Pool, schema: SchemaInfo, subject: Subject): Promise<unknown[]> {
  if (!schema.has('team_members') || !schema.has('teams')) return [];
  return rowsOf(
    pool,
    `SELECT jsonb_build_object('teamId', t.id::text, 'name', t.name, 'role', m.role,
                               'addedAt', m.added_at) AS row
       FROM team_members m JOIN teams t ON t.id = m.team_id
      WHERE m.tenant_id = $1 AND m.user_id = $2 ORDER BY t.id`,
    [subject.tenantId, subject.userId],
  );
}

async function personalRows(
  pool: Pool,
  schema: SchemaInfo,
  table: string,
  subject: Subject,
): Promise<unknown[]> {
  const info = schema.get(table);
  if (info === undefined || !info.columns.has('user_id')) return [];
  const tenantClause = info.columns.has('tenant_id')
    ? 'tenant_id = $1 AND'
    : '$1::text IS NOT NULL AND';
  return rowsOf(
    pool,
    `SELECT to_jsonb(t) AS row FROM ${ident(table)} t WHERE ${tenantClause} user_id = $2`,
    [subject.tenantId, subject.userId],
  );
}

/** Notifications sent to the user's own contact points. */
async function deliveriesOf(pool: Pool, schema: SchemaInfo, subject: Subject): Promise<unknown[]> {
  const deliveries = schema.get('notification_deliveries');
  if (
    deliveries === undefined ||
    !deliveries.columns.has('contact_point_id') ||
    !schema.get('contact_points')?.columns.has('user_id')
  ) {
    return [];
  }
  return rowsOf(
    pool,
    `SELECT to_jsonb(d) AS row FROM notification_deliveries d
      WHERE d.tenant_id = $1 AND d.contact_point_id IN
            (SELECT id FROM contact_points WHERE tenant_id = $1 AND user_id = $2)
      ORDER BY d.id`,
    [subject.tenantId, subject.userId],
  );
}

/** Actor strings the alert store writes for this user and their keys ('user:7', 'api_key:3'). */
function actorNames(subject: Subject): string[] {
  return [`user:${subject.userId}`, ...subject.keyIds.map((id) => `api_key:${id}`)];
}

async function alertEventsOf(
  pool: Pool,
  schema: SchemaInfo,
  subject: Subject,
): Promise<Array<Record<string, unknown>>> {
  if (!schema.get('alert_events')?.columns.has('actor')) return [];
  const rows = await rowsOf(
    pool,
    `SELECT to_jsonb(e) AS row FROM alert_events e
      WHERE tenant_id = $1 AND actor = ANY($2::text[]) ORDER BY id`,
    [subject.tenantId, actorNames(subject)],
  );
  return rows as Array<Record<string, unknown>>;
}

async function alertsOf(
  pool: Pool,
  schema: SchemaInfo,
  subject: Subject,
  events: ReadonlyArray<Record<string, unknown>>,
): Promise<unknown[]> {
  if (!schema.has('alerts') || events.length === 0) return [];
  const ids = [...new Set(events.map((e) => String(e.alert_id)))];
  return rowsOf(
    pool,
    'SELECT to_jsonb(a) AS row FROM alerts a WHERE tenant_id = $1 AND id = ANY($2::bigint[]) ORDER BY id',
    [subject.tenantId, ids],
  );
}

/** Records the user (or one of their keys) made, and records about the user, in chain order. */
async function* auditRecordsOf(pool: Pool, subject: Subject) {
  let afterSeq = 0;
  const pageSize = 500;
  for (;;) {
    const { rows } = await pool.query<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_log
        WHERE tenant_id = $1 AND seq > $4
          AND ((actor_kind = 'user' AND actor_id = $2)
               OR (actor_kind = 'api_key' AND actor_id = ANY($3::text[]))
               OR (resource_type = 'user' AND resource_id = $2))
        ORDER BY audit_log.seq LIMIT $5`,
      [subject.tenantId, subject.userId, subject.keyIds, afterSeq, pageSize],
    );
    for (const row of rows) yield recordOf(row);
    if (rows.length < pageSize) return;
    afterSeq = Number(rows[rows.length - 1]!.seq);
  }
}
