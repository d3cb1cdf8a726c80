import { escapeLike, iso, type Queryable, type Slice, setClause, slice } from './common.ts';

export type Connectivity = 'unknown' | 'online' | 'offline';

/** A device row as the API shows it. status/lastSeen/battery/firmware: the last snapshot. */
export interface Device {
  readonly id: string;
  readonly key: string;
  readonly name: string | null;
  readonly type: string | null;
  readonly tags: string[];
  readonly attributes: Record<string, unknown>;
  readonly enabled: boolean;
  readonly devEui: string | null;
  readonly status: Connectivity;
  readonly lastSeen: string | null;
  readonly battery: number | null;
  readonly firmware: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface DeviceRow {
  id: string;
  external_id: string;
  name: string | null;
  type: string | null;
  tags: string[];
  attributes: Record<string, unknown>;
  enabled: boolean;
  dev_eui: string | null;
  status: Connectivity;
  last_seen: Date | null;
  battery: number | null;
  firmware: string | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `d.id::text AS id, d.external_id, d.name, d.type, d.tags, d.attributes, d.enabled,
  d.dev_eui, d.status, d.last_seen, d.battery, d.firmware, d.created_at, d.updated_at`;

function toDevice(r: DeviceRow): Device {
  return {
    id: r.id,
    key: r.external_id,
    name: r.name,
    type: r.type,
    tags: r.tags,
    attributes: r.attributes,
    enabled: r.enabled,
    devEui: r.dev_eui,
    status: r.status,
    lastSeen: iso(r.last_seen),
    battery: r.battery,
    firmware: r.firmware,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  };
}

export interface DeviceFilter {
  /** Exact device key (external id). */
  readonly key?: string;
  readonly type?: string;
  /** Devices carrying every one of these tags. */
  readonly tags?: readonly string[];
  readonly status?: Connectivity;
  readonly enabled?: boolean;
  /** Members of this group. */
  readonly groupId?: string;
  /** Case-insensitive substring of key or name. */
  readonly q?: string;
}

/** WHERE clause (with `d` as the devices alias) for a tenant's devices matching `f`. */
function deviceWhere(tenantId: string, f: DeviceFilter, params: unknown[]): string {
  params.push(tenantId);
  const where = [`d.tenant_id = $${params.length}`];
  const add = (value: unknown, sql: (p: string) => string) => {
    params.push(value);
    where.push(sql(`$${params.length}`));
  };
  if (f.key !== undefined) add(f.key, (p) => `d.external_id = ${p}`);
  if (f.type !== undefined) add(f.type, (p) => `d.type = ${p}`);
  if (f.tags !== undefined && f.tags.length > 0)
    add(JSON.stringify(f.tags), (p) => `d.tags @> ${p}::jsonb`);
  if (f.status !== undefined) add(f.status, (p) => `d.status = ${p}`);
  if (f.enabled !== undefined) add(f.enabled, (p) => `d.enabled = ${p}`);
  if (f.groupId !== undefined)
    add(
      f.groupId,
      (p) => `EXISTS (SELECT 1 FROM device_group_members m
                       WHERE m.tenant_id = d.tenant_id AND m.group_id = ${p}::bigint
                         AND m.device_id = d.id)`,
    );
  if (f.q !== undefined)
    add(`%${escapeLike(f.q)}%`, (p) => `(d.external_id ILIKE ${p} OR d.name ILIKE ${p})`);
  return where.join(' AND ');
}

export async function listDevices(
  db: Queryable,
  tenantId: string,
  f: DeviceFilter & { afterId?: string; limit: number },
): Promise<Slice<Device>> {
  const params: unknown[] = [];
  const where = deviceWhere(tenantId, f, params);
  params.push(f.afterId ?? '0', f.limit + 1);
  const { rows } = await db.query<DeviceRow>(
    `SELECT ${COLUMNS} FROM devices d
      WHERE ${where} AND d.id > $${params.length - 1}::bigint
      ORDER BY d.id LIMIT $${params.length}`,
    params,
  );
  return slice(rows.map(toDevice), f.limit);
}

export async function getDevice(db: Queryable, tenantId: string, deviceId: string) {
  const { rows } = await db.query<DeviceRow>(
    `SELECT ${COLUMNS} FROM devices d WHERE d.tenant_id = $1 AND d.id = $2::bigint`,
    [tenantId, deviceId],
  );
  return rows[0] === undefined ? undefined : toDevice(rows[0]);
}

export async function getDeviceByKey(db: Queryable, tenantId: string, key: string) {
  const { rows } = await db.query<DeviceRow>(
    `SELECT ${COLUMNS} FROM devices d WHERE d.tenant_id = $1 AND d.external_id = $2`,
    [tenantId, key],
  );
  return rows[0] === undefined ? undefined : toDevice(rows[0]);
}

export interface NewDevice {
  readonly key: string;
  readonly name?: string | null;
  readonly type?: string | null;
  readonly tags?: readonly string[];
  readonly attributes?: Record<string, unknown>;
  readonly enabled?: boolean;
  readonly devEui?: string | null;
}

/**
 * Creates the devices whose keys are new; returns them (in input order) and the keys that
 * already existed (left unchanged). A DevEUI taken by any device throws a unique violation
 * (devices_dev_eui_key): DevEUIs are global.
 */
export async function insertDevices(
  db: Queryable,
  tenantId: string,
  specs: readonly NewDevice[],
): Promise<{ created: Device[]; existing: string[] }> {
  const { rows } = await db.query<DeviceRow>(
    `WITH ins AS (
       INSERT INTO devices AS d (tenant_id, external_id, name, type, tags, attributes, enabled,
                                 dev_eui)
       SELECT $1, u.k, u.n, u.t, coalesce(u.g::jsonb, '[]'), coalesce(u.a::jsonb, '{}'),
              coalesce(u.en, true), lower(u.e)
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[],
                     $8::text[]) WITH ORDINALITY AS u(k, n, t, g, a, en, e, i)
        ORDER BY u.i
       ON CONFLICT (tenant_id, external_id) DO NOTHING
       RETURNING *)
     SELECT ${COLUMNS} FROM ins d ORDER BY d.id`,
    [
      tenantId,
      specs.map((d) => d.key),
      specs.map((d) => d.name ?? null),
      specs.map((d) => d.type ?? null),
      specs.map((d) => (d.tags === undefined ? null : JSON.stringify(dedupe(d.tags)))),
      specs.map((d) => (d.attributes === undefined ? null : JSON.stringify(d.attributes))),
      specs.map((d) => d.enabled ?? null),
      specs.map((d) => d.devEui ?? null),
    ],
  );
  const created = rows.map(toDevice);
  const made = new Set(created.map((d) => d.key));
  return { created, existing: specs.map((s) => s.key).filter((k) => !made.has(k)) };
}

export interface DevicePatch {
  readonly name?: string | null;
  readonly type?: string | null;
  readonly tags?: readonly string[];
  readonly attributes?: Record<string, unknown>;
  readonly enabled?: boolean;
  readonly devEui?: string | null;
}

export async function updateDevice(
  db: Queryable,
  tenantId: string,
  deviceId: string,
  patch: DevicePatch,
): Promise<Device | undefined> {
  const params: unknown[] = [tenantId, deviceId];
  const set = setClause(
    {
      name: { column: 'name', value: patch.name },
      type: { column: 'type', value: patch.type },
      tags: {
        column: 'tags',
        value: patch.tags === undefined ? undefined : JSON.stringify(dedupe(patch.tags)),
        cast: '::jsonb',
      },
      attributes: {
        column: 'attributes',
        value: patch.attributes === undefined ? undefined : JSON.stringify(patch.attributes),
        cast: '::jsonb',
      },
      enabled: { column: 'enabled', value: patch.enabled },
      devEui: {
        column: 'dev_eui',
        value: patch.devEui === undefined ? undefined : (patch.devEui?.toLowerCase() ?? null),
      },
    },
    params,
  );
  if (set === undefined) return getDevice(db, tenantId, deviceId);
  const { rows } = await db.query<DeviceRow>(
    `UPDATE devices d ${set} WHERE d.tenant_id = $1 AND d.id = $2::bigint RETURNING ${COLUMNS}`,
    params,
  );
  return rows[0] === undefined ? undefined : toDevice(rows[0]);
}

/** Adds and removes tags (removal wins over addition); undefined if not in the tenant. */
export async function editDeviceTags(
  db: Queryable,
  tenantId: string,
  deviceId: string,
  add: readonly string[],
  remove: readonly string[],
): Promise<Device | undefined> {
  const { rows } = await db.query<DeviceRow>(
    `UPDATE devices d
        SET tags = coalesce((
          SELECT jsonb_agg(t ORDER BY first)
            FROM (SELECT t, min(o) AS first
                    FROM (SELECT t, o FROM jsonb_array_elements_text(d.tags) WITH ORDINALITY AS x(t, o)
                          UNION ALL
                          SELECT t, 1000000 + o FROM unnest($3::text[]) WITH ORDINALITY AS y(t, o)) all_tags
                   WHERE NOT (t = ANY($4::text[]))
                   GROUP BY t) kept), '[]'::jsonb)
      WHERE d.tenant_id = $1 AND d.id = $2::bigint
      RETURNING ${COLUMNS}`,
    [tenantId, deviceId, [...add], [...remove]],
  );
  return rows[0] === undefined ? undefined : toDevice(rows[0]);
}

export async function deleteDevice(db: Queryable, tenantId: string, deviceId: string) {
  const { rows } = await db.query<DeviceRow>(
    `DELETE FROM devices d WHERE d.tenant_id = $1 AND d.id = $2::bigint RETURNING ${COLUMNS}`,
    [tenantId, deviceId],
  );
  return rows[0] === undefined ? undefined : toDevice(rows[0]);
}

/** Tags in use in the tenant, with how many devices carry each, by name. */
export async function listDeviceTags(
  db: Queryable,
  tenantId: string,
  f: { after?: string; limit: number },
): Promise<Slice<{ tag: string; devices: number }>> {
  const { rows } = await db.query<{ tag: string; devices: number }>(
    `SELECT t.tag, count(*)::int AS devices
       FROM devices d CROSS JOIN LATERAL jsonb_array_elements_text(d.tags) AS t(tag)
      WHERE d.tenant_id = $1 AND t.tag COLLATE "C" > $2
      GROUP BY t.tag ORDER BY t.tag COLLATE "C" LIMIT $3`,
    [tenantId, f.after ?? '', f.limit + 1],
  );
  return slice(rows, f.limit);
}

function dedupe(tags: readonly string[]): string[] {
  return [...new Set(tags)];
}
