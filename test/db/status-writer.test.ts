import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceStatusSink } from '../../actors/device/types.ts';
import { createTenant, registerDevices, simulatedDevices } from '../../db/devices/registry.ts';
import { DeviceStatusWriter } from '../../db/devices/status-writer.ts';
import { BACKENDS, createMigratedTestDatabase, type MigratedTestDatabase } from './helpers.ts';

interface StoredStatus {
  status: string;
  last_seen: Date | null;
  battery: number | null;
  firmware: string | null;
}

async function statusOf(pool: Pool, id: number): Promise<StoredStatus> {
  const { rows } = await pool.query<StoredStatus>(
    'SELECT status, last_seen, battery, firmware FROM devices WHERE id = $1',
    [id],
  );
  return rows[0]!;
}

const T0 = Date.parse('2026-05-01T10:00:00Z');
let nextPrefix = 0;

describe.each(BACKENDS)('DeviceStatusWriter on %s', (backend) => {
  let db: MigratedTestDatabase;
  let pool: Pool;
  beforeAll(async () => {
    db = await createMigratedTestDatabase(backend);
    pool = db.pool;
    await createTenant(pool, { id: 'acme' });
  });
  afterAll(() => db?.drop());

  const devices = (n: number) =>
    registerDevices(pool, 'acme', simulatedDevices(n, { prefix: `d${nextPrefix++}-` }));

  it('coalesces the updates of a device into one row change per flush', async () => {
    const [a, b] = await devices(2);
    const writer = new DeviceStatusWriter(pool, { flushIntervalMs: 60_000 });
    writer.update({ deviceId: a!, status: 'online', lastSeen: T0, battery: 80 });
    writer.update({ deviceId: a!, lastSeen: T0 + 5000, battery: 79.5 });
    writer.update({ deviceId: String(a!), firmware: '1.2.3' });
    writer.update({ deviceId: b!, status: 'offline' });
    expect(writer.pending).toBe(2);
    expect(writer.stats.coalesced).toBe(2);
    await writer.flush();
    expect(writer.stats.statements).toBe(1);
    expect(writer.stats.rowsUpdated).toBe(2);
    expect(await statusOf(pool, a!)).toEqual({
      status: 'online',
      last_seen: new Date(T0 + 5000),
      battery: 79.5,
      firmware: '1.2.3',
    });
    // Fields not mentioned are left alone.
    expect(await statusOf(pool, b!)).toEqual({
      status: 'offline',
      last_seen: null,
      battery: null,
      firmware: null,
    });
    // The same values again change nothing.
    writer.update({ deviceId: a!, status: 'online', battery: 79.5 });
    await writer.flush();
    expect(writer.stats.rowsUpdated).toBe(2);
    await writer.close();
  });

  it("takes device actors' reports, naming devices by tenant and key", async () => {
    const prefix = `r${nextPrefix++}-`;
    const [a, b, c] = await registerDevices(pool, 'acme', simulatedDevices(3, { prefix }));
    const writer = new DeviceStatusWriter(pool, { flushIntervalMs: 60_000 });
    const sink: DeviceStatusSink = writer; // the device actor's contract
    const report = {
      tenantId: 'acme',
      deviceKey: `${prefix}000000`,
      online: true,
      lastSeen: T0,
      battery: 55,
      firmware: 'fw-9',
      rssi: -80,
      snr: 7.5,
    };
    sink.update(report);
    sink.update({ ...report, lastSeen: T0 + 1000 });
    sink.update({ ...report, deviceKey: `${prefix}000001`, online: false, battery: null });
    sink.update({ ...report, deviceKey: 'not-registered' });
    writer.update({ deviceId: c!, firmware: 'fw-10' });
    await writer.flush();
    expect(writer.stats.statements).toBe(2); // one by id, one by tenant and key
    expect(await statusOf(pool, a!)).toEqual({
      status: 'online',
      last_seen: new Date(T0 + 1000),
      battery: 55,
      firmware: 'fw-9',
    });
    expect(await statusOf(pool, c!)).toMatchObject({ status: 'unknown', firmware: 'fw-10' });
    expect(await statusOf(pool, b!)).toMatchObject({ status: 'offline', battery: null });
    expect(() => writer.update({ tenantId: 'a:b', deviceKey: 'x' })).toThrow(TypeError);
    expect(() => writer.update({ battery: 1 })).toThrow(TypeError);
    await writer.close();
  });

  it('keeps last_seen monotonic, clamps battery, and clears fields set to null', async () => {
    const [a] = await devices(1);
    const writer = new DeviceStatusWriter(pool, { flushIntervalMs: 60_000 });
    writer.update({ deviceId: a!, lastSeen: T0 + 10_000, battery: 140, firmware: 'v\u00002' });
    await writer.flush();
    expect(await statusOf(pool, a!)).toMatchObject({
      last_seen: new Date(T0 + 10_000),
      battery: 100,
      firmware: 'v\ufffd2',
    });
    // A stale owner's older last_seen does not rewind it.
    writer.update({ deviceId: a!, lastSeen: T0, battery: null, status: 'offline' });
    await writer.flush();
    expect(await statusOf(pool, a!)).toEqual({
      status: 'offline',
      last_seen: new Date(T0 + 10_000),
      battery: null,
      firmware: 'v\ufffd2',
    });
    expect(() => writer.update({ deviceId: 'x1' })).toThrow(TypeError);
    await writer.close();
  });

  it('flushes on its timer', async () => {
    const [a] = await devices(1);
    const writer = new DeviceStatusWriter(pool, { flushIntervalMs: 30 });
    writer.update({ deviceId: a!, status: 'online' });
    for (let i = 0; i < 100 && writer.stats.rowsUpdated === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await statusOf(pool, a!)).status).toBe('online');
    await writer.close();
  });

  it('writes thousands of devices per statement', async () => {
    const ids = await devices(2500);
    const writer = new DeviceStatusWriter(pool, {
      flushIntervalMs: 60_000,
      maxRowsPerStatement: 1000,
    });
    for (const [i, id] of ids.entries()) {
      writer.update({ deviceId: id, status: 'online', lastSeen: T0 + i });
    }
    await writer.close();
    expect(writer.stats.statements).toBe(3);
    expect(writer.stats.rowsUpdated).toBe(2500);
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM devices WHERE id = ANY($1::bigint[]) AND status = 'online'`,
      [ids],
    );
    expect(rows[0]!.n).toBe(2500);
  });

  it('keeps the changes of a failed flush for the next one (newer values win)', async () => {
    const [a, b] = await devices(2);
    let fail = true;
    const flaky = new Proxy(pool, {
      get(target, prop, receiver) {
        if (prop === 'query' && fail) {
          return () => Promise.reject(new Error('Connection terminated unexpectedly'));
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const writer = new DeviceStatusWriter(flaky, { flushIntervalMs: 60_000 });
    writer.update({ deviceId: a!, status: 'online', battery: 50 });
    writer.update({ deviceId: b!, firmware: '2.0' });
    await expect(writer.flush()).rejects.toThrow(/Connection terminated/);
    expect(writer.stats.failures).toBe(1);
    expect(writer.pending).toBe(2);
    writer.update({ deviceId: a!, battery: 40 });
    fail = false;
    await writer.flush();
    expect(await statusOf(pool, a!)).toMatchObject({ status: 'online', battery: 40 });
    expect(await statusOf(pool, b!)).toMatchObject({ firmware: '2.0' });
    await writer.close();
  });
});
