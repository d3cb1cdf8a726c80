import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigratedTestDatabase, type MigratedTestDatabase } from './helpers.ts';

let db: MigratedTestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createMigratedTestDatabase();
  pool = db.pool;
});
afterAll(() => db.drop());

/** A tenant with a unique id, so tests share nothing. */
async function tenant(): Promise<string> {
  const id = `t-${Math.random().toString(36).slice(2, 10)}`;
  await pool.query('INSERT INTO tenants (id, name) VALUES ($1, $1)', [id]);
  return id;
}

async function device(tenantId: string, externalId: string, extra: Record<string, unknown> = {}) {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO devices (tenant_id, external_id, dev_eui, tags)
     VALUES ($1, $2, $3, coalesce($4::jsonb, '[]')) RETURNING id`,
    [tenantId, externalId, extra.devEui ?? null, extra.tags ? JSON.stringify(extra.tags) : null],
  );
  return rows[0]!.id;
}

describe('core schema', () => {
  it('device ids are unique per tenant, not globally', async () => {
    const [a, b] = [await tenant(), await tenant()];
    await device(a, 'pump-17');
    await device(b, 'pump-17');
    await expect(device(a, 'pump-17')).rejects.toMatchObject({
      code: '23505',
      constraint: 'devices_tenant_external_id_key',
    });
  });

  it('refuses ids that cannot be MQTT topic levels or actor keys', async () => {
    await expect(
      pool.query(`INSERT INTO tenants (id, name) VALUES ('a:b', 'x')`),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(
      pool.query(`INSERT INTO tenants (id, name) VALUES ('a/b', 'x')`),
    ).rejects.toMatchObject({ code: '23514' });
    const t = await tenant();
    for (const bad of ['a/b', 'a+b', 'a#', 'a b', '']) {
      await expect(device(t, bad)).rejects.toMatchObject({ code: '23514' });
    }
    await device(t, 'acme:pump-17.ok_id-1');
  });

  it('a device group can only hold devices of its own tenant', async () => {
    const [a, b] = [await tenant(), await tenant()];
    const devA = await device(a, 'd1');
    const devB = await device(b, 'd1');
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO device_groups (tenant_id, name) VALUES ($1, 'floor-2') RETURNING id`,
      [a],
    );
    const group = rows[0]!.id;
    await pool.query(
      'INSERT INTO device_group_members (tenant_id, group_id, device_id) VALUES ($1, $2, $3)',
      [a, group, devA],
    );
    // Claiming tenant a for b's device, or tenant b for a's group: both refused.
    await expect(
      pool.query(
        'INSERT INTO device_group_members (tenant_id, group_id, device_id) VALUES ($1, $2, $3)',
        [a, group, devB],
      ),
    ).rejects.toMatchObject({ code: '23503' });
    await expect(
      pool.query(
        'INSERT INTO device_group_members (tenant_id, group_id, device_id) VALUES ($1, $2, $3)',
        [b, group, devB],
      ),
    ).rejects.toMatchObject({ code: '23503' });
    // Deleting the device removes its memberships.
    await pool.query('DELETE FROM devices WHERE id = $1', [devA]);
    const left = await pool.query('SELECT 1 FROM device_group_members WHERE group_id = $1', [
      group,
    ]);
    expect(left.rowCount).toBe(0);
  });

  it('DevEUI is normalised hex and unique across tenants', async () => {
    const [a, b] = [await tenant(), await tenant()];
    const eui = `${Math.random().toString(16).slice(2, 10).padEnd(8, '0')}00aa11bb`;
    await device(a, 'lora-1', { devEui: eui });
    await expect(device(b, 'lora-1', { devEui: eui })).rejects.toMatchObject({ code: '23505' });
    await expect(device(b, 'lora-2', { devEui: eui.toUpperCase() })).rejects.toMatchObject({
      code: '23514',
    });
  });

  it('tags are a JSON array searchable by containment; updated_at is maintained', async () => {
    const t = await tenant();
    const id = await device(t, 'ahu-1', { tags: ['hvac', 'floor-2'] });
    await device(t, 'ahu-2', { tags: ['hvac'] });
    const { rows } = await pool.query(
      `SELECT external_id FROM devices WHERE tenant_id = $1 AND tags @> '["floor-2"]'`,
      [t],
    );
    expect(rows).toEqual([{ external_id: 'ahu-1' }]);
    await expect(
      pool.query(`UPDATE devices SET tags = '{"a":1}' WHERE id = $1`, [id]),
    ).rejects.toMatchObject({ code: '23514' });
    await pool.query(
      `UPDATE devices SET created_at = now() - interval '1 day', updated_at = now() - interval '1 day' WHERE id = $1`,
      [id],
    );
    await pool.query(`UPDATE devices SET battery = 87.5, status = 'online' WHERE id = $1`, [id]);
    const after = await pool.query(
      `SELECT battery, status, updated_at > created_at + interval '1 hour' AS touched FROM devices WHERE id = $1`,
      [id],
    );
    expect(after.rows[0]).toEqual({ battery: 87.5, status: 'online', touched: true });
  });

  it('users: one account per e-mail and tenant, case-insensitively; API keys go with them', async () => {
    const t = await tenant();
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO users (tenant_id, email, role) VALUES ($1, 'Ops@Example.com', 'admin') RETURNING id`,
      [t],
    );
    await expect(
      pool.query(`INSERT INTO users (tenant_id, email) VALUES ($1, 'ops@example.com')`, [t]),
    ).rejects.toMatchObject({ code: '23505' });
    const prefix = `gk${Math.random().toString(36).slice(2, 12).padEnd(10, '0')}`;
    await pool.query(
      `INSERT INTO api_keys (tenant_id, user_id, name, prefix, key_hash, role)
       VALUES ($1, $2, 'ci', $3, sha256('secret'::bytea), 'operator')`,
      [t, rows[0]!.id, prefix],
    );
    await pool.query('DELETE FROM users WHERE id = $1', [rows[0]!.id]);
    expect((await pool.query('SELECT 1 FROM api_keys WHERE prefix = $1', [prefix])).rowCount).toBe(
      0,
    );
  });

  it('telemetry is partitioned by range on ts, with BRIN(ts) and unique (device_id, ts DESC)', async () => {
    const { rows } = await pool.query(
      `SELECT c.relkind::text AS kind, pg_get_partkeydef(c.oid) AS key
         FROM pg_class c WHERE c.oid = 'telemetry'::regclass`,
    );
    expect(rows[0]).toEqual({ kind: 'p', key: 'RANGE (ts)' });
    const idx = await pool.query<{ def: string }>(
      `SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indrelid = 'telemetry'::regclass ORDER BY 1`,
    );
    const defs = idx.rows.map((r) => r.def).join('\n');
    expect(defs).toMatch(/USING brin \(ts\)/);
    expect(defs).toMatch(/UNIQUE INDEX telemetry_device_ts .* \(device_id, ts DESC\)/);
  });
});
