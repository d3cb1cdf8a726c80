import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceDirectory } from '../../db/devices/directory.ts';
import {
  createTenant,
  registerDevice,
  registerDevices,
  simulatedDevices,
} from '../../db/devices/registry.ts';
import { BACKENDS, createMigratedTestDatabase, type MigratedTestDatabase } from './helpers.ts';

/** A clock the test moves. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

let nextTenant = 0;
const tenantName = () => `t${nextTenant++}`;

describe.each(BACKENDS)('DeviceDirectory on %s', (backend) => {
  let db: MigratedTestDatabase;
  let pool: Pool;
  beforeAll(async () => {
    db = await createMigratedTestDatabase(backend);
    pool = db.pool;
  });
  afterAll(() => db?.drop());

  it('resolves a device, then answers from memory', async () => {
    const tenant = tenantName();
    await createTenant(pool, { id: tenant });
    const id = await registerDevice(pool, tenant, { key: 'pump-17', name: 'Pump 17' });
    const dir = new DeviceDirectory(pool);
    expect(dir.peek(tenant, 'pump-17')).toBeUndefined();
    expect(await dir.resolve(tenant, 'pump-17')).toEqual({
      ok: true,
      deviceId: id,
      enabled: true,
      provisioned: false,
    });
    const queries = dir.stats.queries;
    expect(dir.peek(tenant, 'pump-17')).toMatchObject({ ok: true, deviceId: id });
    expect(await dir.resolve(tenant, 'pump-17')).toMatchObject({ ok: true, deviceId: id });
    expect(dir.stats.queries).toBe(queries);
    expect(dir.stats.hits).toBe(2);
  });

  it('tells an unknown tenant from an unknown device, and remembers both for a while', async () => {
    const tenant = tenantName();
    await createTenant(pool, { id: tenant });
    const c = clock();
    const dir = new DeviceDirectory(pool, { now: c.now, negativeTtlMs: 1000, tenantTtlMs: 1000 });
    expect(await dir.resolve('no-such-tenant', 'x')).toEqual({
      ok: false,
      reason: 'unknown-tenant',
    });
    expect(await dir.resolve('bad/tenant', 'x')).toEqual({ ok: false, reason: 'unknown-tenant' });
    expect(await dir.resolve(tenant, 'later')).toEqual({ ok: false, reason: 'unknown-device' });
    expect(dir.stats.unknownTenant).toBe(2);
    expect(dir.stats.unknownDevice).toBe(1);

    const id = await registerDevice(pool, tenant, { key: 'later' });
    // Still the cached negative answer...
    expect(dir.peek(tenant, 'later')).toEqual({ ok: false, reason: 'unknown-device' });
    c.advance(1001);
    // ...until it expires.
    expect(dir.peek(tenant, 'later')).toBeUndefined();
    expect(await dir.resolve(tenant, 'later')).toMatchObject({ ok: true, deviceId: id });
  });

  it('re-reads a found device after the positive TTL', async () => {
    const tenant = tenantName();
    await createTenant(pool, { id: tenant });
    await registerDevice(pool, tenant, { key: 'gone' });
    const c = clock();
    const dir = new DeviceDirectory(pool, { now: c.now, positiveTtlMs: 10_000 });
    expect(await dir.resolve(tenant, 'gone')).toMatchObject({ ok: true });
    await pool.query('DELETE FROM devices WHERE tenant_id = $1', [tenant]);
    c.advance(6_000);
    expect(dir.peek(tenant, 'gone')).toMatchObject({ ok: true }); // within the TTL
    c.advance(6_000);
    expect(dir.peek(tenant, 'gone')).toBeUndefined();
    expect(await dir.resolve(tenant, 'gone')).toEqual({ ok: false, reason: 'unknown-device' });
  });

  it('coalesces concurrent misses into few queries', async () => {
    const tenant = tenantName();
    await createTenant(pool, { id: tenant });
    const specs = simulatedDevices(1500);
    const ids = await registerDevices(pool, tenant, specs);
    const dir = new DeviceDirectory(pool, { maxBatch: 1000 });
    const results = await Promise.all([
      ...specs.map((s) => dir.resolve(tenant, s.key)),
      ...Array.from({ length: 10 }, () => dir.resolve(tenant, specs[0]!.key)),
      dir.resolve(tenant, 'missing'),
    ]);
    expect(results.slice(0, 1500).map((r) => (r.ok ? r.deviceId : 0))).toEqual(ids);
    expect(results.slice(1500, 1510).every((r) => r.ok && r.deviceId === ids[0])).toBe(true);
    expect(results[1510]).toEqual({ ok: false, reason: 'unknown-device' });
    expect(dir.stats.misses).toBe(1501);
    // One tenant query, two device queries (1000 + 501 keys).
    expect(dir.stats.queries).toBe(3);
  });

  it('auto-provisions devices for tenants that allow it, once, even from two nodes', async () => {
    const tenant = tenantName();
    await createTenant(pool, { id: tenant, autoProvisionDevices: true });
    const a = new DeviceDirectory(pool);
    const b = new DeviceDirectory(pool);
    const [ra, rb] = await Promise.all([a.resolve(tenant, 'new-1'), b.resolve(tenant, 'new-1')]);
    expect(ra.ok && rb.ok).toBe(true);
    if (!ra.ok || !rb.ok) return;
    expect(ra.deviceId).toBe(rb.deviceId);
    expect([ra.provisioned, rb.provisioned].filter(Boolean)).toHaveLength(1);
    expect(a.stats.provisioned + b.stats.provisioned).toBe(1);
    const { rows } = await pool.query<{ id: string }>(
      'SELECT id FROM devices WHERE tenant_id = $1 AND external_id = $2',
      [tenant, 'new-1'],
    );
    expect(rows.map((r) => Number(r.id))).toEqual([ra.deviceId]);
    // Many at once; a key the table refuses stays unknown without failing the others.
    const keys = ['n-a', 'n-b', 'bad key', 'x'.repeat(200), 'n-c'];
    const results = await Promise.all(keys.map((k) => a.resolve(tenant, k)));
    expect(results.map((r) => (r.ok ? r.provisioned : r.reason))).toEqual([
      true,
      true,
      'unknown-device',
      'unknown-device',
      true,
    ]);
    // A tenant without the flag does not get devices created.
    const strict = tenantName();
    await createTenant(pool, { id: strict });
    expect(await a.resolve(strict, 'new-1')).toEqual({ ok: false, reason: 'unknown-device' });
  });

  it('finds ChirpStack devices by DevEUI alone', async () => {
    const tenant = tenantName();
    await createTenant(pool, { id: tenant });
    const eui = `${String(nextTenant).padStart(2, '0')}A1B2C3D4E5F6A7`;
    const id = await registerDevice(pool, tenant, { key: 'lora-1', devEui: eui });
    const dir = new DeviceDirectory(pool);
    expect(await dir.resolveDevEui(eui)).toEqual({
      ok: true,
      tenantId: tenant,
      deviceKey: 'lora-1',
      deviceId: id,
      enabled: true,
    });
    expect(dir.peekDevEui(eui.toLowerCase())).toMatchObject({ ok: true, deviceId: id });
    // The (tenant, key) entry came with it.
    expect(dir.peek(tenant, 'lora-1')).toMatchObject({ ok: true, deviceId: id });
    expect(await dir.resolveDevEui('ffffffffffffff00')).toEqual({
      ok: false,
      reason: 'unknown-device',
    });
    expect(await dir.resolveDevEui('not-an-eui')).toEqual({ ok: false, reason: 'unknown-device' });
    expect(dir.peekDevEui('ffffffffffffff00')).toEqual({ ok: false, reason: 'unknown-device' });
  });

  it('preloads a tenant in pages, and reports disabled devices', async () => {
    const tenant = tenantName();
    await createTenant(pool, { id: tenant });
    const ids = await registerDevices(pool, tenant, [
      ...simulatedDevices(700),
      { key: 'off', enabled: false },
    ]);
    const dir = new DeviceDirectory(pool);
    expect(await dir.preload(tenant, 300)).toBe(701);
    const queries = dir.stats.queries;
    expect(dir.peek(tenant, 'sim-000123')).toMatchObject({ ok: true, deviceId: ids[123] });
    expect(dir.peek(tenant, 'off')).toEqual({
      ok: true,
      deviceId: ids[700],
      enabled: false,
      provisioned: false,
    });
    expect(dir.stats.queries).toBe(queries);
  });

  it('keeps its memory bounded', async () => {
    const tenant = tenantName();
    await createTenant(pool, { id: tenant });
    const specs = simulatedDevices(600);
    await registerDevices(pool, tenant, specs);
    const dir = new DeviceDirectory(pool, { maxEntries: 200, maxNegativeEntries: 50 });
    await Promise.all(specs.map((s) => dir.resolve(tenant, s.key)));
    expect(dir.size).toBeLessThanOrEqual(200);
    await Promise.all(Array.from({ length: 120 }, (_, i) => dir.resolve(tenant, `nope-${i}`)));
    // The newest answers are still there; the first ones were evicted.
    expect(dir.peek(tenant, 'nope-119')).toEqual({ ok: false, reason: 'unknown-device' });
    expect(dir.peek(tenant, 'nope-0')).toBeUndefined();
    expect(dir.peek(tenant, specs[599]!.key)).toMatchObject({ ok: true });
  });
});

describe('registerDevices', () => {
  let db: MigratedTestDatabase;
  beforeAll(async () => {
    db = await createMigratedTestDatabase('postgres');
  });
  afterAll(() => db?.drop());

  it('creates 100,000 devices with multi-row inserts, and is idempotent', async () => {
    await createTenant(db.pool, { id: 'fleet', name: 'Fleet' });
    const specs = simulatedDevices(100_000, { euiBase: 0x70b3d50000000000n });
    const started = performance.now();
    const ids = await registerDevices(db.pool, 'fleet', specs);
    const seconds = (performance.now() - started) / 1000;
    console.log(`registerDevices: 100,000 devices in ${seconds.toFixed(2)} s`);
    expect(new Set(ids).size).toBe(100_000);
    const { rows } = await db.pool.query<{ n: number; eui: string }>(
      `SELECT count(*)::int AS n, max(dev_eui) AS eui FROM devices WHERE tenant_id = 'fleet'`,
    );
    expect(rows[0]).toEqual({ n: 100_000, eui: '70b3d5000001869f' });
    // Again, overlapping: existing devices keep their ids, new ones are added.
    const again = await registerDevices(db.pool, 'fleet', [
      ...specs.slice(99_990),
      { key: 'extra' },
    ]);
    expect(again.slice(0, 10)).toEqual(ids.slice(99_990));
    expect(again[10]).toBeGreaterThan(0);
  });
});
