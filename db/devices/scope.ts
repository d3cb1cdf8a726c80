import type { Pool } from 'pg';

/** Which devices a rule covers (the shape of actors/rules Scope; db stays below actors). */
export type ScopeFilter =
  | { readonly type: 'device'; readonly device: string }
  | { readonly type: 'devices'; readonly devices: readonly string[] }
  | { readonly type: 'group'; readonly group: string }
  | { readonly type: 'tags'; readonly all?: readonly string[]; readonly any?: readonly string[] }
  | { readonly type: 'tenant' };

export interface ScopedDevice {
  readonly id: number;
  readonly key: string;
  readonly attributes: Record<string, unknown>;
}

/** SQL condition on `devices d` for a scope, with its parameters numbered from `first`. */
export function scopeCondition(
  scope: ScopeFilter,
  first: number,
): { sql: string; params: unknown[] } {
  switch (scope.type) {
    case 'device':
      return { sql: `d.external_id = $${first}`, params: [scope.device] };
    case 'devices':
      return { sql: `d.external_id = ANY($${first}::text[])`, params: [scope.devices] };
    case 'group':
      return {
        sql: `EXISTS (SELECT 1 FROM device_group_members m JOIN device_groups g
                ON g.tenant_id = m.tenant_id AND g.id = m.group_id
              WHERE m.tenant_id = d.tenant_id AND m.device_id = d.id AND g.name = $${first})`,
        params: [scope.group],
      };
    case 'tags':
      return {
        sql: `d.tags @> $${first}::jsonb AND ($${first + 1}::text[] IS NULL OR d.tags ?| $${first + 1}::text[])`,
        params: [JSON.stringify(scope.all ?? []), scope.any ?? null],
      };
    case 'tenant':
      return { sql: 'true', params: [] };
  }
}

/** Enabled devices of a tenant within a scope, by key. */
export async function devicesInScope(
  pool: Pool,
  tenantId: string,
  scope: ScopeFilter,
): Promise<ScopedDevice[]> {
  const cond = scopeCondition(scope, 2);
  const { rows } = await pool.query<{
    id: string;
    external_id: string;
    attributes: Record<string, unknown>;
  }>(
    `SELECT d.id, d.external_id, d.attributes FROM devices d
     WHERE d.tenant_id = $1 AND d.enabled AND ${cond.sql} ORDER BY d.external_id`,
    [tenantId, ...cond.params],
  );
  return rows.map((r) => ({ id: Number(r.id), key: r.external_id, attributes: r.attributes }));
}

/** How many enabled devices a scope covers. */
export async function countInScope(
  pool: Pool,
  tenantId: string,
  scope: ScopeFilter,
): Promise<number> {
  const cond = scopeCondition(scope, 2);
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM devices d WHERE d.tenant_id = $1 AND d.enabled AND ${cond.sql}`,
    [tenantId, ...cond.params],
  );
  return rows[0]?.n ?? 0;
}
