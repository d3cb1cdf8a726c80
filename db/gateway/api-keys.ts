import { iso, type Queryable, type Slice, slice } from './common.ts';

export type KeyRole = 'admin' | 'operator' | 'viewer' | 'device';

/** An API key as the API shows it: never the hash, never the secret. */
export interface ApiKey {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  readonly role: KeyRole;
  /** The user it acts for, if any. */
  readonly userId: string | null;
  /** Device keys bound to one device: its id and key. */
  readonly deviceId: string | null;
  readonly deviceKey: string | null;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
}

interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  role: KeyRole;
  user_id: string | null;
  device_id: string | null;
  device_key: string | null;
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = `k.id::text AS id, k.name, k.prefix, k.role, k.user_id::text AS user_id,
  k.device_id::text AS device_id, d.external_id AS device_key, k.created_at, k.last_used_at,
  k.expires_at, k.revoked_at`;
const FROM = 'api_keys k LEFT JOIN devices d ON d.tenant_id = k.tenant_id AND d.id = k.device_id';

function toKey(r: KeyRow): ApiKey {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    role: r.role,
    userId: r.user_id,
    deviceId: r.device_id,
    deviceKey: r.device_key,
    createdAt: iso(r.created_at)!,
    lastUsedAt: iso(r.last_used_at),
    expiresAt: iso(r.expires_at),
    revokedAt: iso(r.revoked_at),
  };
}

export interface KeyFilter {
  readonly role?: KeyRole;
  /** Include revoked keys (default false). */
  readonly includeRevoked?: boolean;
  readonly afterId?: string;
  readonly limit: number;
}

export async function listApiKeys(
  db: Queryable,
  tenantId: string,
  f: KeyFilter,
): Promise<Slice<ApiKey>> {
  const params: unknown[] = [tenantId, f.afterId ?? '0', f.limit + 1];
  const where = ['k.tenant_id = $1', 'k.id > $2::bigint'];
  if (f.role !== undefined) {
    params.push(f.role);
    where.push(`k.role = $${params.length}`);
  }
  if (f.includeRevoked !== true) where.push('k.revoked_at IS NULL');
  const { rows } = await db.query<KeyRow>(
    `SELECT ${COLUMNS} FROM ${FROM} WHERE ${where.join(' AND ')} ORDER BY k.id LIMIT $3`,
    params,
  );
  return slice(rows.map(toKey), f.limit);
}

export async function getApiKey(db: Queryable, tenantId: string, keyId: string) {
  const { rows } = await db.query<KeyRow>(
    `SELECT ${COLUMNS} FROM ${FROM} WHERE k.tenant_id = $1 AND k.id = $2::bigint`,
    [tenantId, keyId],
  );
  return rows[0] === undefined ? undefined : toKey(rows[0]);
}

export interface NewApiKey {
  readonly name: string;
  readonly prefix: string;
  /** SHA-256 of the whole key (32 bytes). */
  readonly keyHash: Buffer;
  readonly role: KeyRole;
  readonly userId?: string | null;
  readonly deviceId?: string | null;
  readonly expiresAt?: Date | null;
}

export async function insertApiKey(db: Queryable, tenantId: string, k: NewApiKey): Promise<ApiKey> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO api_keys (tenant_id, name, prefix, key_hash, role, user_id, device_id, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6::bigint, $7::bigint, $8) RETURNING id::text AS id`,
    [
      tenantId,
      k.name,
      k.prefix,
      k.keyHash,
      k.role,
      k.userId ?? null,
      k.deviceId ?? null,
      k.expiresAt ?? null,
    ],
  );
  return (await getApiKey(db, tenantId, rows[0]!.id))!;
}

/** Revokes a key (idempotent: the first revocation time stays); undefined if not in tenant. */
export async function revokeApiKey(db: Queryable, tenantId: string, keyId: string) {
  await db.query(
    `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
      WHERE tenant_id = $1 AND id = $2::bigint`,
    [tenantId, keyId],
  );
  return getApiKey(db, tenantId, keyId);
}

/** What authentication needs to check a presented key. */
export interface KeyCredential {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly prefix: string;
  readonly keyHash: Buffer;
  readonly role: KeyRole;
  readonly userId: string | null;
  readonly deviceKey: string | null;
  readonly expiresAt: number | null;
  readonly revoked: boolean;
  /** A user-bound key stops working when its user is disabled... */
  readonly userDisabled: boolean;
  /** ...and never grants more than its user's current role. */
  readonly userRole: 'admin' | 'operator' | 'viewer' | null;
}

export async function findKeyCredential(
  db: Queryable,
  prefix: string,
): Promise<KeyCredential | undefined> {
  const { rows } = await db.query<{
    id: string;
    tenant_id: string;
    name: string;
    prefix: string;
    key_hash: Buffer;
    role: KeyRole;
    user_id: string | null;
    device_key: string | null;
    expires_at: Date | null;
    revoked: boolean;
    user_disabled: boolean;
    user_role: 'admin' | 'operator' | 'viewer' | null;
  }>(
    `SELECT k.id::text AS id, k.tenant_id, k.name, k.prefix, k.key_hash, k.role,
            k.user_id::text AS user_id, d.external_id AS device_key, k.expires_at,
            k.revoked_at IS NOT NULL AS revoked, coalesce(u.disabled, false) AS user_disabled,
            u.role AS user_role
       FROM api_keys k
       LEFT JOIN devices d ON d.tenant_id = k.tenant_id AND d.id = k.device_id
       LEFT JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
      WHERE k.prefix = $1`,
    [prefix],
  );
  const r = rows[0];
  if (r === undefined) return undefined;
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    prefix: r.prefix,
    keyHash: r.key_hash,
    role: r.role,
    userId: r.user_id,
    deviceKey: r.device_key,
    expiresAt: r.expires_at === null ? null : r.expires_at.getTime(),
    revoked: r.revoked,
    userDisabled: r.user_disabled,
    userRole: r.user_role,
  };
}

/** Records use of keys (batched by the caller: last_used_at is approximate by design). */
export async function touchApiKeys(db: Queryable, keyIds: readonly string[], at: Date) {
  if (keyIds.length === 0) return;
  await db.query(
    `UPDATE api_keys SET last_used_at = $2
      WHERE id = ANY($1::bigint[]) AND (last_used_at IS NULL OR last_used_at < $2)`,
    [keyIds, at],
  );
}
