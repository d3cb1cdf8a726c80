import type { Pool } from 'pg';

/**
 * Creating tenants and devices: for tests, the simulator and benchmarks (the gateway's CRUD comes
 * later). registerDevices() writes thousands of rows per statement: 100,000 devices take a few
 * seconds.
 */

export interface TenantSpec {
  /** Slug: [A-Za-z0-9][A-Za-z0-9_.-]{0,63} (an MQTT topic level). */
  readonly id: string;
  /** Default: the id. */
  readonly name?: string;
  readonly autoProvisionDevices?: boolean;
  readonly telemetryRetentionDays?: number;
}

/** Creates the tenant, or updates the given settings of an existing one. */
export async function createTenant(pool: Pool, spec: TenantSpec): Promise<void> {
  await pool.query(
    `INSERT INTO tenants (id, name, auto_provision_devices, telemetry_retention_days)
     VALUES ($1, $2, coalesce($3, false), coalesce($4, 365))
     ON CONFLICT (id) DO UPDATE
       SET name = coalesce($5, tenants.name),
           auto_provision_devices = coalesce($3, tenants.auto_provision_devices),
           telemetry_retention_days = coalesce($4, tenants.telemetry_retention_days)`,
    [
      spec.id,
      spec.name ?? spec.id,
      spec.autoProvisionDevices ?? null,
      spec.telemetryRetentionDays ?? null,
      spec.name ?? null,
    ],
  );
}

export interface DeviceSpec {
  /** The MQTT topic's device id (devices.external_id). */
  readonly key: string;
  readonly name?: string;
  readonly type?: string;
  /** 16 hex digits (stored lower case). */
  readonly devEui?: string;
  readonly tags?: readonly string[];
  readonly attributes?: Readonly<Record<string, unknown>>;
  readonly enabled?: boolean;
}

export interface RegisterDevicesOptions {
  /** Rows per INSERT; default 10,000. */
  chunkSize?: number;
}

/**
 * Creates the devices of `tenantId` that do not exist yet (by key) and returns every spec's
 * devices.id, in order. Existing devices are left as they are.
 */
export async function registerDevices(
  pool: Pool,
  tenantId: string,
  specs: readonly DeviceSpec[],
  options: RegisterDevicesOptions = {},
): Promise<number[]> {
  const chunkSize = Math.max(1, options.chunkSize ?? 10_000);
  const ids: number[] = new Array(specs.length);
  for (let start = 0; start < specs.length; start += chunkSize) {
    const chunk = specs.slice(start, start + chunkSize);
    const { rows } = await pool.query<{ id: string; external_id: string }>(
      `INSERT INTO devices (tenant_id, external_id, name, type, dev_eui, tags, attributes, enabled)
       SELECT $1, u.k, u.n, u.t, lower(u.e), coalesce(u.g::jsonb, '[]'), coalesce(u.a::jsonb, '{}'),
              coalesce(u.en, true)
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::boolean[]) AS u(k, n, t, e, g, a, en)
       ON CONFLICT (tenant_id, external_id) DO NOTHING
       RETURNING id::text AS id, external_id`,
      [
        tenantId,
        chunk.map((d) => d.key),
        chunk.map((d) => d.name ?? null),
        chunk.map((d) => d.type ?? null),
        chunk.map((d) => d.devEui ?? null),
        chunk.map((d) => (d.tags === undefined ? null : JSON.stringify(d.tags))),
        chunk.map((d) => (d.attributes === undefined ? null : JSON.stringify(d.attributes))),
        chunk.map((d) => d.enabled ?? null),
      ],
    );
    const byKey = new Map(rows.map((r) => [r.external_id, Number(r.id)]));
    const missing = chunk.filter((d) => !byKey.has(d.key)).map((d) => d.key);
    if (missing.length > 0) {
      const existing = await pool.query<{ id: string; external_id: string }>(
        `SELECT id::text AS id, external_id FROM devices
          WHERE tenant_id = $1 AND external_id = ANY($2::text[])`,
        [tenantId, missing],
      );
      for (const r of existing.rows) byKey.set(r.external_id, Number(r.id));
    }
    for (let i = 0; i < chunk.length; i++) {
      const id = byKey.get(chunk[i]!.key);
      if (id === undefined) throw new Error(`device ${chunk[i]!.key} was not created`);
      ids[start + i] = id;
    }
  }
  return ids;
}

/** Creates one device (or finds it by key) and returns its devices.id. */
export async function registerDevice(
  pool: Pool,
  tenantId: string,
  spec: DeviceSpec,
): Promise<number> {
  const [id] = await registerDevices(pool, tenantId, [spec]);
  return id!;
}

export interface SimulatedDevicesOptions {
  /** Key prefix; keys are prefix + zero-padded index. Default 'sim-'. */
  prefix?: string;
  /** First index; default 0. */
  start?: number;
  /** Give each device a DevEUI derived from `euiBase` + index (for ChirpStack tests). */
  euiBase?: bigint;
  type?: string;
}

/** Specs for `count` simulator devices: sim-000000, sim-000001, ... */
export function simulatedDevices(
  count: number,
  options: SimulatedDevicesOptions = {},
): DeviceSpec[] {
  const prefix = options.prefix ?? 'sim-';
  const start = options.start ?? 0;
  const width = Math.max(6, String(start + count - 1).length);
  const out: DeviceSpec[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const n = start + i;
    const spec: { key: string; type?: string; devEui?: string } = {
      key: `${prefix}${String(n).padStart(width, '0')}`,
    };
    if (options.type !== undefined) spec.type = options.type;
    if (options.euiBase !== undefined) {
      spec.devEui = (options.euiBase + BigInt(n)).toString(16).padStart(16, '0').slice(-16);
    }
    out[i] = spec;
  }
  return out;
}
