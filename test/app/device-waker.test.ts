import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeviceActor, deviceActorId } from '../../actors/device/index.ts';
import type { DeviceTransition } from '../../actors/device/types.ts';
import { startDeviceWaker } from '../../app/ingestion.ts';
import { createTenant, registerDevices } from '../../db/devices/registry.ts';
import { DeviceStatusWriter } from '../../db/devices/status-writer.ts';
import { PostgresStateStore } from '../../db/index.ts';
import { ActorSystem, silentLogger } from '../../runtime/index.ts';
import { createMigratedTestDatabase } from '../db/helpers.ts';

let db: Awaited<ReturnType<typeof createMigratedTestDatabase>>;
beforeAll(async () => {
  db = await createMigratedTestDatabase('postgres');
  await createTenant(db.pool, { id: 'acme' });
  await registerDevices(db.pool, 'acme', [{ key: 'quiet' }, { key: 'chatty' }]);
});
afterAll(async () => {
  await db.drop();
});

function boot(transitions: DeviceTransition[]) {
  const statusWriter = new DeviceStatusWriter(db.pool, { flushIntervalMs: 50 });
  const system = new ActorSystem({
    logger: silentLogger,
    stateStore: new PostgresStateStore(db.pool),
  });
  system.register(
    createDeviceActor({
      offlineAfterMs: 1_000,
      events: { transition: (t) => transitions.push(t) },
      statusSink: statusWriter,
    }),
  );
  return { system, statusWriter };
}

describe('waking devices after a restart', () => {
  it('declares a device that went silent during the restart offline, after a full silence period', async () => {
    const first: DeviceTransition[] = [];
    const before = boot(first);
    for (const key of ['quiet', 'chatty']) {
      before.system.tell(deviceActorId('acme', key), {
        type: 'telemetry',
        ts: Date.now(),
        metrics: { t: 1 },
        receivedAt: Date.now(),
      });
    }
    await before.system.whenIdle();
    await before.system.shutdown();
    await before.statusWriter.close();
    expect(first.map((t) => t.online)).toEqual([true, true]);
    const { rows } = await db.pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM devices WHERE status = 'online'",
    );
    expect(Number(rows[0]!.n)).toBe(2);

    // The node restarts; neither device sends anything again.
    const second: DeviceTransition[] = [];
    const after = boot(second);
    const waker = startDeviceWaker({
      system: after.system,
      pool: db.pool,
      logger: silentLogger,
      owns: () => true,
    });
    expect(await waker.runNow()).toBe(2);
    await new Promise((r) => setTimeout(r, 500));
    expect(second).toEqual([]); // startup grace: not before a full silence period on this node
    await new Promise((r) => setTimeout(r, 1_000));
    expect(second.map((t) => [t.deviceKey, t.online, t.reason]).sort()).toEqual([
      ['chatty', false, 'silence'],
      ['quiet', false, 'silence'],
    ]);
    waker.stop();
    await after.system.shutdown();
    await after.statusWriter.close();
  });
});
