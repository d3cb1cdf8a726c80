import { iso, type Queryable, setClause } from './common.ts';

export interface Tenant {
  readonly id: string;
  readonly name: string;
  readonly telemetryRetentionDays: number;
  readonly autoProvisionDevices: boolean;
  readonly settings: Record<string, unknown>;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface TenantRow {
  id: string;
  name: string;
  telemetry_retention_days: number;
  auto_provision_devices: boolean;
  settings: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS =
  'id, name, telemetry_retention_days, auto_provision_devices, settings, created_at, updated_at';

function toTenant(r: TenantRow): Tenant {
  return {
    id: r.id,
    name: r.name,
    telemetryRetentionDays: r.telemetry_retention_days,
    autoProvisionDevices: r.auto_provision_devices,
    settings: r.settings,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  };
}

export async function getTenant(db: Queryable, tenantId: string): Promise<Tenant | undefined> {
  const { rows } = await db.query<TenantRow>(`SELECT ${COLUMNS} FROM tenants WHERE id = $1`, [
    tenantId,
  ]);
  return rows[0] === undefined ? undefined : toTenant(rows[0]);
}

export interface NewTenant {
  readonly id: string;
  readonly name: string;
  readonly telemetryRetentionDays?: number;
  readonly autoProvisionDevices?: boolean;
}

/** Creates a tenant; undefined when the id is taken. */
export async function insertTenant(db: Queryable, t: NewTenant): Promise<Tenant | undefined> {
  const { rows } = await db.query<TenantRow>(
    `INSERT INTO tenants (id, name, telemetry_retention_days, auto_provision_devices)
     VALUES ($1, $2, coalesce($3, 365), coalesce($4, false))
     ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
    [t.id, t.name, t.telemetryRetentionDays ?? null, t.autoProvisionDevices ?? null],
  );
  return rows[0] === undefined ? undefined : toTenant(rows[0]);
}

export interface TenantPatch {
  readonly name?: string;
  readonly telemetryRetentionDays?: number;
  readonly autoProvisionDevices?: boolean;
  readonly settings?: Record<string, unknown>;
}

/** Updates the fields given; undefined when the tenant does not exist. */
export async function updateTenant(
  db: Queryable,
  tenantId: string,
  patch: TenantPatch,
): Promise<Tenant | undefined> {
  const params: unknown[] = [tenantId];
  const set = setClause(
    {
      name: { column: 'name', value: patch.name },
      retention: { column: 'telemetry_retention_days', value: patch.telemetryRetentionDays },
      autoProvision: { column: 'auto_provision_devices', value: patch.autoProvisionDevices },
      settings: {
        column: 'settings',
        value: patch.settings === undefined ? undefined : JSON.stringify(patch.settings),
        cast: '::jsonb',
      },
    },
    params,
  );
  if (set === undefined) return getTenant(db, tenantId);
  const { rows } = await db.query<TenantRow>(
    `UPDATE tenants ${set} WHERE id = $1 RETURNING ${COLUMNS}`,
    params,
  );
  return rows[0] === undefined ? undefined : toTenant(rows[0]);
}
