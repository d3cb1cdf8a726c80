import { openJson, type SecretSealer, sealJson } from './secrets.ts';
import { msColumn, type Queryable } from './sql.ts';

/**
 * Contact points: how to reach a user (or, with no user, a shared destination). The channel's
 * target is stored split in two: `config` holds its public fields, `secret` its secret fields
 * sealed. actors/notify/contact-points.ts does the split per channel; this module only stores.
 */

export type ContactPointKind = 'email' | 'sms' | 'slack' | 'webhook' | 'pagerduty';
export const CONTACT_POINT_KINDS: readonly ContactPointKind[] = [
  'email',
  'sms',
  'slack',
  'webhook',
  'pagerduty',
];

export interface ContactPointInput {
  readonly tenantId: string;
  /** null: a shared contact point (a team channel, an operations webhook). */
  readonly userId: string | null;
  readonly kind: ContactPointKind;
  readonly name?: string;
  /** Shown and searched; never secret. */
  readonly address: string;
  readonly config: Record<string, unknown>;
  /** Secret fields, sealed before they are written; null when the kind has none. */
  readonly secret: Record<string, unknown> | null;
  readonly enabled?: boolean;
}

export interface ContactPoint {
  readonly id: string;
  readonly tenantId: string;
  readonly userId: string | null;
  readonly kind: ContactPointKind;
  readonly name: string;
  readonly address: string;
  readonly config: Record<string, unknown>;
  readonly hasSecret: boolean;
  readonly enabled: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A contact point with its secret opened: what a delivery needs. */
export interface ContactPointWithSecret extends ContactPoint {
  readonly secret: Record<string, unknown> | null;
}

const COLUMNS = `id::text AS id, tenant_id, user_id::text AS user_id, kind, name, address,
  config::text AS config, secret, enabled, ${msColumn('created_at')} AS created_ms,
  ${msColumn('updated_at')} AS updated_ms`;

interface Row {
  id: string;
  tenant_id: string;
  user_id: string | null;
  kind: ContactPointKind;
  name: string;
  address: string;
  config: string;
  secret: string | null;
  enabled: boolean;
  created_ms: string;
  updated_ms: string;
}

const toContactPoint = (r: Row): ContactPoint => ({
  id: r.id,
  tenantId: r.tenant_id,
  userId: r.user_id,
  kind: r.kind,
  name: r.name,
  address: r.address,
  config: JSON.parse(r.config) as Record<string, unknown>,
  hasSecret: r.secret !== null,
  enabled: r.enabled,
  createdAt: Number(r.created_ms),
  updatedAt: Number(r.updated_ms),
});

async function sealedSecret(
  sealer: SecretSealer,
  secret: Record<string, unknown> | null,
): Promise<string | null> {
  return secret === null ? null : sealJson(sealer, secret);
}

export async function createContactPoint(
  db: Queryable,
  sealer: SecretSealer,
  input: ContactPointInput,
): Promise<ContactPoint> {
  const { rows } = await db.query<Row>(
    `INSERT INTO contact_points (tenant_id, user_id, kind, name, address, config, secret, enabled)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
     RETURNING ${COLUMNS}`,
    [
      input.tenantId,
      input.userId,
      input.kind,
      input.name ?? '',
      input.address,
      JSON.stringify(input.config),
      await sealedSecret(sealer, input.secret),
      input.enabled ?? true,
    ],
  );
  return toContactPoint(rows[0]!);
}

/** Replaces a contact point's destination (kind stays); undefined if it does not exist. */
export async function updateContactPoint(
  db: Queryable,
  sealer: SecretSealer,
  tenantId: string,
  id: string,
  input: Omit<ContactPointInput, 'tenantId' | 'userId' | 'kind'>,
): Promise<ContactPoint | undefined> {
  const { rows } = await db.query<Row>(
    `UPDATE contact_points
        SET name = $3, address = $4, config = $5::jsonb, secret = $6, enabled = $7
      WHERE tenant_id = $1 AND id = $2
      RETURNING ${COLUMNS}`,
    [
      tenantId,
      id,
      input.name ?? '',
      input.address,
      JSON.stringify(input.config),
      await sealedSecret(sealer, input.secret),
      input.enabled ?? true,
    ],
  );
  return rows[0] === undefined ? undefined : toContactPoint(rows[0]);
}

export async function deleteContactPoint(
  db: Queryable,
  tenantId: string,
  id: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    'DELETE FROM contact_points WHERE tenant_id = $1 AND id = $2',
    [tenantId, id],
  );
  return rowCount === 1;
}

export async function listContactPoints(
  db: Queryable,
  tenantId: string,
  filter: { userId?: string; kind?: ContactPointKind } = {},
): Promise<ContactPoint[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM contact_points
      WHERE tenant_id = $1 AND ($2::bigint IS NULL OR user_id = $2)
        AND ($3::text IS NULL OR kind = $3)
      ORDER BY id`,
    [tenantId, filter.userId ?? null, filter.kind ?? null],
  );
  return rows.map(toContactPoint);
}

async function withSecret(sealer: SecretSealer, r: Row): Promise<ContactPointWithSecret> {
  const secret =
    r.secret === null ? null : ((await openJson(sealer, r.secret)) as Record<string, unknown>);
  return { ...toContactPoint(r), secret };
}

/** Contact points with their secrets opened, by id (missing ids are left out). */
export async function getContactPointsWithSecrets(
  db: Queryable,
  sealer: SecretSealer,
  tenantId: string,
  ids: readonly string[],
): Promise<ContactPointWithSecret[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM contact_points WHERE tenant_id = $1 AND id = ANY($2::bigint[])
      ORDER BY id`,
    [tenantId, [...ids]],
  );
  return Promise.all(rows.map((r) => withSecret(sealer, r)));
}

/** The enabled contact points of some users, secrets opened, ordered by user then id. */
export async function getUsersContactPoints(
  db: Queryable,
  sealer: SecretSealer,
  tenantId: string,
  userIds: readonly string[],
): Promise<ContactPointWithSecret[]> {
  if (userIds.length === 0) return [];
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM contact_points
      WHERE tenant_id = $1 AND user_id = ANY($2::bigint[]) AND enabled
      ORDER BY user_id, id`,
    [tenantId, [...userIds]],
  );
  return Promise.all(rows.map((r) => withSecret(sealer, r)));
}
