import { escapeLike, iso, type Queryable, type Slice, setClause, slice } from './common.ts';

export interface DeviceGroup {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly deviceCount: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface GroupRow {
  id: string;
  name: string;
  description: string | null;
  device_count: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `g.id::text AS id, g.name, g.description,
  (SELECT count(*)::int FROM device_group_members m WHERE m.group_id = g.id) AS device_count,
  g.created_at, g.updated_at`;

function toGroup(r: GroupRow): DeviceGroup {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    deviceCount: r.device_count,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  };
}

export async function listGroups(
  db: Queryable,
  tenantId: string,
  f: { q?: string; deviceId?: string; afterId?: string; limit: number },
): Promise<Slice<DeviceGroup>> {
  const params: unknown[] = [tenantId, f.afterId ?? '0', f.limit + 1];
  let where = 'g.tenant_id = $1 AND g.id > $2::bigint';
  if (f.q !== undefined) {
    params.push(`%${escapeLike(f.q)}%`);
    where += ` AND g.name ILIKE $${params.length}`;
  }
  if (f.deviceId !== undefined) {
    params.push(f.deviceId);
    where += ` AND EXISTS (SELECT 1 FROM device_group_members m
                            WHERE m.group_id = g.id AND m.device_id = $${params.length}::bigint)`;
  }
  const { rows } = await db.query<GroupRow>(
    `SELECT ${COLUMNS} FROM device_groups g WHERE ${where} ORDER BY g.id LIMIT $3`,
    params,
  );
  return slice(rows.map(toGroup), f.limit);
}

export async function getGroup(db: Queryable, tenantId: string, groupId: string) {
  const { rows } = await db.query<GroupRow>(
    `SELECT ${COLUMNS} FROM device_groups g WHERE g.tenant_id = $1 AND g.id = $2::bigint`,
    [tenantId, groupId],
  );
  return rows[0] === undefined ? undefined : toGroup(rows[0]);
}

/** Creates a group; undefined when the name is taken in the tenant. */
export async function insertGroup(
  db: Queryable,
  tenantId: string,
  g: { name: string; description?: string | null },
): Promise<DeviceGroup | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO device_groups (tenant_id, name, description) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id, name) DO NOTHING RETURNING id::text AS id`,
    [tenantId, g.name, g.description ?? null],
  );
  return rows[0] === undefined ? undefined : getGroup(db, tenantId, rows[0].id);
}

/** Throws a unique violation (device_groups_tenant_name_key) when renamed onto a taken name. */
export async function updateGroup(
  db: Queryable,
  tenantId: string,
  groupId: string,
  patch: { name?: string; description?: string | null },
): Promise<DeviceGroup | undefined> {
  const params: unknown[] = [tenantId, groupId];
  const set = setClause(
    {
      name: { column: 'name', value: patch.name },
      description: { column: 'description', value: patch.description },
    },
    params,
  );
  if (set !== undefined) {
    const res = await db.query(
      `UPDATE device_groups ${set} WHERE tenant_id = $1 AND id = $2::bigint`,
      params,
    );
    if (res.rowCount === 0) return undefined;
  }
  return getGroup(db, tenantId, groupId);
}

export async function deleteGroup(db: Queryable, tenantId: string, groupId: string) {
  const before = await getGroup(db, tenantId, groupId);
  if (before === undefined) return undefined;
  await db.query('DELETE FROM device_groups WHERE tenant_id = $1 AND id = $2::bigint', [
    tenantId,
    groupId,
  ]);
  return before;
}

/**
 * Adds devices to a group (already members are fine). Returns the ids that were not found in
 * the tenant (nothing is added then), or undefined when the group is not in the tenant.
 */
export async function addGroupMembers(
  db: Queryable,
  tenantId: string,
  groupId: string,
  deviceIds: readonly string[],
): Promise<{ added: number; unknown: string[] } | undefined> {
  if ((await getGroup(db, tenantId, groupId)) === undefined) return undefined;
  const { rows } = await db.query<{ id: string }>(
    `SELECT id::text AS id FROM devices WHERE tenant_id = $1 AND id = ANY($2::bigint[])`,
    [tenantId, deviceIds],
  );
  const found = new Set(rows.map((r) => r.id));
  const unknown = [...new Set(deviceIds)].filter((id) => !found.has(String(BigInt(id))));
  if (unknown.length > 0) return { added: 0, unknown };
  const res = await db.query(
    `INSERT INTO device_group_members (tenant_id, group_id, device_id)
     SELECT $1, $2::bigint, unnest($3::bigint[])
     ON CONFLICT (group_id, device_id) DO NOTHING`,
    [tenantId, groupId, deviceIds],
  );
  return { added: res.rowCount ?? 0, unknown: [] };
}

export async function removeGroupMember(
  db: Queryable,
  tenantId: string,
  groupId: string,
  deviceId: string,
): Promise<boolean> {
  const res = await db.query(
    `DELETE FROM device_group_members
      WHERE tenant_id = $1 AND group_id = $2::bigint AND device_id = $3::bigint`,
    [tenantId, groupId, deviceId],
  );
  return (res.rowCount ?? 0) > 0;
}
