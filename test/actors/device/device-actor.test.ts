import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createDeviceActor,
  type DeviceActorOptions,
  type DeviceState,
  type DeviceStatusReport,
  type DeviceTransition,
  deviceActorId,
  deviceStatus,
  deviceStatuses,
  wakeDevices,
} from '../../../actors/device/index.ts';
import {
  type ActorId,
  ActorSystem,
  MemoryStateStore,
  Rejection,
  type SaveFence,
  type StateStore,
  type StoredState,
  silentLogger,
} from '../../../runtime/index.ts';

const T0 = Date.UTC(2026, 0, 1, 12);
const MIN = 60_000;
const OFFLINE = 10 * MIN;
const TENANT = 'acme';

let events: DeviceTransition[] = [];
let updates: DeviceStatusReport[] = [];
const systems: ActorSystem[] = [];

function boot(
  store: StateStore = new MemoryStateStore(),
  options: Partial<DeviceActorOptions> = {},
) {
  const system = new ActorSystem({
    logger: silentLogger,
    stateStore: store,
    reminderPollIntervalMs: 60 * MIN,
  });
  system.register(
    createDeviceActor({
      offlineAfterMs: OFFLINE,
      snapshotEveryMs: MIN,
      idleTimeoutMs: 0,
      events: { transition: (e) => events.push(e) },
      statusSink: { update: (u) => updates.push(u) },
      ...options,
    }),
  );
  systems.push(system);
  return system;
}

const id = (key: string) => deviceActorId(TENANT, key);

function send(
  system: ActorSystem,
  key: string,
  metrics: Record<string, number | string | boolean>,
  at: { ts?: number; receivedAt?: number } = {},
): void {
  const now = Date.now();
  system.tell(id(key), {
    type: 'telemetry',
    ts: at.ts ?? now,
    receivedAt: at.receivedAt ?? now,
    metrics,
  });
}

const status = (system: ActorSystem, key: string) => deviceStatus(system, TENANT, key);

/** Queued turns done, and snapshot saves (not awaited by turns) settled. */
async function settle(system: ActorSystem): Promise<void> {
  await system.whenIdle();
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Moves the fake clock, letting every timer's turn run before the next timer fires. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

const transitions = () =>
  events.map((e) => `${e.deviceKey}:${e.online ? 'on' : 'off'}@${e.at - T0}`);

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  events = [];
  updates = [];
});

afterEach(async () => {
  await Promise.all(systems.splice(0).map((s) => s.shutdown()));
  vi.useRealTimers();
});

describe('live status', () => {
  it('keeps the last value and time of each metric, last seen and the message count', async () => {
    const system = boot();
    send(system, 'pump-1', { temperature: 21.5, humidity: 40, label: 'north', open: false });
    await advance(1_000);
    send(system, 'pump-1', { temperature: 22 });
    const s = await status(system, 'pump-1');
    expect(s).toMatchObject({
      tenantId: TENANT,
      deviceKey: 'pump-1',
      online: true,
      lastSeen: T0 + 1_000,
      messages: 2,
    });
    expect(s.metrics).toEqual({
      temperature: { value: 22, ts: T0 + 1_000 },
      humidity: { value: 40, ts: T0 },
      label: { value: 'north', ts: T0 },
      open: { value: false, ts: T0 },
    });
  });

  it('keeps the newer reading when messages arrive out of order', async () => {
    const system = boot();
    send(system, 'p', { temperature: 22 }, { ts: T0 + 5_000, receivedAt: T0 + 6_000 });
    send(
      system,
      'p',
      { temperature: 21, humidity: 50 },
      { ts: T0 + 1_000, receivedAt: T0 + 2_000 },
    );
    const s = await status(system, 'p');
    expect(s.metrics.temperature).toEqual({ value: 22, ts: T0 + 5_000 });
    // A metric the device had not reported yet is taken even from an older message.
    expect(s.metrics.humidity).toEqual({ value: 50, ts: T0 + 1_000 });
    expect(s.lastSeen).toBe(T0 + 6_000); // the newest receive time
    expect(s.messages).toBe(2);
  });

  it('lifts battery, signal and firmware out of the metrics', async () => {
    const system = boot();
    send(system, 'lora-1', { batt: 0.87, rssi: -97, snr: 7.25, fw: '1.4.2', temperature: 3 });
    expect(await status(system, 'lora-1')).toMatchObject({
      battery: 87,
      rssi: -97,
      snr: 7.25,
      firmware: '1.4.2',
    });
    await advance(1_000);
    send(system, 'lora-1', { BatteryLevel: 64, firmware_version: 2 });
    expect(await status(system, 'lora-1')).toMatchObject({ battery: 64, firmware: '2' });

    send(system, 'plain', { temperature: 3 });
    expect(await status(system, 'plain')).toMatchObject({
      battery: null,
      rssi: null,
      snr: null,
      firmware: null,
    });
    send(system, 'odd', { battery: 3600 }); // millivolts: kept as a metric, not a level
    const odd = await status(system, 'odd');
    expect(odd.battery).toBeNull();
    expect(odd.metrics.battery?.value).toBe(3600);
  });

  it('answers for a device never heard from without inventing anything', async () => {
    const system = boot();
    expect(await status(system, 'ghost')).toEqual({
      tenantId: TENANT,
      deviceKey: 'ghost',
      online: false,
      lastSeen: null,
      metrics: {},
      battery: null,
      rssi: null,
      snr: null,
      firmware: null,
      messages: 0,
    });
    expect(events).toEqual([]);
  });

  it('keys may contain colons; tenant ids may not', async () => {
    const system = boot();
    send(system, 'gw:7:sensor', { t: 1 });
    expect(await status(system, 'gw:7:sensor')).toMatchObject({
      tenantId: TENANT,
      deviceKey: 'gw:7:sensor',
    });
    expect(() => deviceActorId('a:b', 'x')).toThrow(RangeError);
  });

  it('refuses telemetry without finite times', async () => {
    const system = boot();
    await expect(
      system.ask(id('bad'), { type: 'telemetry', ts: Number.NaN, receivedAt: T0, metrics: {} }),
    ).rejects.toThrow(Rejection);
    expect((await status(system, 'bad')).messages).toBe(0);
  });

  it('answers statuses of a page of devices in order, from memory', async () => {
    const system = boot();
    const keys = Array.from({ length: 500 }, (_, i) => `dev-${i}`);
    for (const [i, key] of keys.entries()) send(system, key, { temperature: i, battery: 90 });
    await settle(system);
    const page = await deviceStatuses(system, TENANT, [...keys, 'never-seen']);
    expect(page).toHaveLength(501);
    for (const [i, s] of page.slice(0, 500).entries()) {
      expect(s).toMatchObject({ deviceKey: `dev-${i}`, online: true, battery: 90 });
      expect(s?.metrics.temperature?.value).toBe(i);
    }
    expect(page[500]).toMatchObject({ deviceKey: 'never-seen', online: false, lastSeen: null });
    expect(events.filter((e) => e.online)).toHaveLength(500);
  });
});

describe('online and offline', () => {
  it('goes offline after the silence, online again on telemetry: one transition each', async () => {
    const system = boot();
    send(system, 'd1', { t: 1 });
    for (let i = 0; i < 5; i++) {
      await advance(MIN);
      send(system, 'd1', { t: 2 + i });
    }
    await settle(system);
    expect(transitions()).toEqual(['d1:on@0']);
    // Last message at 5 min: offline exactly 10 min later, not a millisecond before.
    await advance(OFFLINE - 1);
    expect((await status(system, 'd1')).online).toBe(true);
    await advance(1);
    expect((await status(system, 'd1')).online).toBe(false);
    expect(transitions()).toEqual(['d1:on@0', `d1:off@${5 * MIN + OFFLINE}`]);
    expect(events[1]!.reason).toBe('silence');
    await advance(60 * MIN);
    expect(events).toHaveLength(2);

    send(system, 'd1', { t: 9 });
    send(system, 'd1', { t: 10 });
    await settle(system);
    expect(transitions()).toEqual(['d1:on@0', `d1:off@${5 * MIN + OFFLINE}`, `d1:on@${75 * MIN}`]);
    expect(events.map((e) => e.reason)).toEqual(['telemetry', 'silence', 'telemetry']);
    expect(events[0]).toEqual({
      tenantId: TENANT,
      deviceKey: 'd1',
      online: true,
      at: T0,
      reason: 'telemetry',
    });
  });

  it('ordinary telemetry arms no timer', async () => {
    const system = boot();
    send(system, 'busy', { t: 0 });
    await settle(system);
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    for (let i = 0; i < 1_000; i++) send(system, 'busy', { t: i });
    await settle(system);
    expect(setTimeoutSpy).not.toHaveBeenCalled();
    expect(setIntervalSpy).not.toHaveBeenCalled();
    setTimeoutSpy.mockRestore();
    setIntervalSpy.mockRestore();
    expect((await status(system, 'busy')).messages).toBe(1_001);
  });

  it('an offline device has no timer; an online one has exactly one', async () => {
    const system = boot();
    const baseline = vi.getTimerCount();
    await status(system, 'quiet'); // activated, never seen: nothing to watch
    expect(vi.getTimerCount()).toBe(baseline);
    send(system, 'loud', { t: 1 });
    send(system, 'loud', { t: 2 });
    await settle(system);
    expect(vi.getTimerCount()).toBe(baseline + 1);
    await advance(OFFLINE + MIN); // offline, then one more firing to see the snapshot through
    await settle(system);
    expect((await status(system, 'loud')).online).toBe(false);
    expect(vi.getTimerCount()).toBe(baseline);
  });

  it('a device whose newest message is old comes online, then waits a full silence', async () => {
    const system = boot();
    send(system, 'late', { t: 1 }, { ts: T0 - 3 * OFFLINE, receivedAt: T0 - 3 * OFFLINE });
    await settle(system);
    // Activated at T0: the grace covers it even though the message is stale.
    expect(transitions()).toEqual([`late:on@${-3 * OFFLINE}`]);
    await advance(OFFLINE - 1);
    expect(events).toHaveLength(1);
    await advance(1);
    expect(transitions()).toEqual([`late:on@${-3 * OFFLINE}`, `late:off@${OFFLINE}`]);
  });
});

describe('startup grace', () => {
  it('after passivation and reactivation: a full silence period on the new activation', async () => {
    const store = new MemoryStateStore();
    const system = boot(store);
    send(system, 'd', { t: 1 });
    await advance(9 * MIN);
    await system.deactivate(id('d'));
    expect(system.isActive(id('d'))).toBe(false);
    await advance(5 * MIN); // 14 min of silence: more than the threshold
    const back = await status(system, 'd'); // reactivates from the snapshot
    expect(back).toMatchObject({ online: true, lastSeen: T0, messages: 1 });
    await advance(OFFLINE - 1);
    expect(transitions()).toEqual(['d:on@0']);
    await advance(1);
    expect(transitions()).toEqual(['d:on@0', `d:off@${14 * MIN + OFFLINE}`]);
  });

  it('after a node restart: status at once from the snapshot, offline only after a full period', async () => {
    const store = new MemoryStateStore();
    const first = boot(store);
    send(first, 'a', { temperature: 21.5, battery: 0.9, fw: '2.0' });
    send(first, 'b', { temperature: 19 });
    await advance(2 * MIN);
    send(first, 'b', { temperature: 19.5 });
    await settle(first);
    await first.shutdown();
    const before = transitions();
    expect(before).toEqual(['a:on@0', 'b:on@0']);

    await advance(30 * MIN); // the node is down for longer than the silence threshold
    const second = boot(store);
    const a = await status(second, 'a');
    expect(a).toMatchObject({ online: true, lastSeen: T0, battery: 90, firmware: '2.0' });
    expect(a.metrics.temperature).toEqual({ value: 21.5, ts: T0 });
    // b sends again during the grace (its activation): online all along, no transition.
    await advance(5 * MIN);
    send(second, 'b', { temperature: 20 });
    await advance(OFFLINE - 5 * MIN - 1);
    expect(transitions()).toEqual(before);
    await advance(1);
    expect(transitions()).toEqual([...before, `a:off@${32 * MIN + OFFLINE}`]);
    await advance(5 * MIN);
    expect(transitions()).toEqual([
      ...before,
      `a:off@${32 * MIN + OFFLINE}`,
      `b:off@${37 * MIN + OFFLINE}`,
    ]);
    // An offline device stays offline across another restart, without transitions.
    await second.shutdown();
    const third = boot(store);
    expect((await status(third, 'a')).online).toBe(false);
    await advance(2 * OFFLINE);
    expect(events).toHaveLength(4);
  });

  it('wakeDevices activates devices that were online so silent ones are declared offline', async () => {
    const store = new MemoryStateStore();
    const first = boot(store);
    send(first, 'silent', { t: 1 });
    await settle(first);
    await first.shutdown();
    const second = boot(store);
    wakeDevices(second, TENANT, ['silent']);
    await settle(second);
    expect(second.isActive(id('silent'))).toBe(true);
    await advance(OFFLINE);
    expect(transitions()).toEqual(['silent:on@0', `silent:off@${OFFLINE}`]);
  });
});

describe('snapshots', () => {
  it('saves at the transition, then once a period only when something changed', async () => {
    const store = new MemoryStateStore();
    const system = boot(store);
    send(system, 'd', { temperature: 20 });
    await settle(system);
    const saved = () => store.peek(id('d'))!;
    expect(saved().version).toBe(1);
    expect(saved().state).toMatchObject({ on: true, n: 1, k: ['temperature'], v: [20] });

    await advance(10_000);
    send(system, 'd', { temperature: 21 });
    send(system, 'd', { temperature: 22 });
    await settle(system);
    expect(saved().version).toBe(1); // not per message
    await advance(MIN - 10_000);
    expect(saved().version).toBe(2);
    expect(saved().state).toMatchObject({ n: 3, v: [22] });
    await advance(3 * MIN); // nothing changed: nothing saved
    expect(saved().version).toBe(2);

    // The snapshot is plain, compact JSON.
    const state = saved().state as DeviceState;
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    expect(JSON.stringify(state).length).toBeLessThan(120);
  });

  it('hands the status sink the device row fields at transitions and changed periods', async () => {
    const system = boot();
    send(system, 'd', { battery: 55, fw: '3.1', rssi: -80 });
    await settle(system);
    expect(updates).toEqual([
      {
        tenantId: TENANT,
        deviceKey: 'd',
        online: true,
        lastSeen: T0,
        battery: 55,
        firmware: '3.1',
        rssi: -80,
        snr: null,
      },
    ]);
    send(system, 'd', { battery: 54 });
    await advance(MIN);
    expect(updates).toHaveLength(2);
    expect(updates[1]).toMatchObject({ online: true, battery: 54 });
    await advance(OFFLINE);
    expect(updates.at(-1)).toMatchObject({ online: false, lastSeen: T0 });
    expect(updates).toHaveLength(3);
  });

  it('restores from a store that round-trips through JSON, as PostgreSQL does', async () => {
    const store = new JsonStore();
    const first = boot(store);
    send(first, 'd', { temperature: 21.5, label: 'x', fw: 7 });
    await settle(first);
    const live = await status(first, 'd');
    await first.shutdown();
    const second = boot(store);
    expect(await status(second, 'd')).toEqual(live);
  });

  it('a failing store never stops the device; the save is retried next period', async () => {
    const store = new FlakyStore();
    const system = boot(store);
    store.failing = true;
    send(system, 'd', { temperature: 20 });
    await settle(system);
    expect(store.attempts).toBe(1);
    expect((await status(system, 'd')).online).toBe(true);
    send(system, 'd', { temperature: 21 });
    store.failing = false;
    await advance(MIN);
    expect(store.attempts).toBe(2);
    expect(store.peek(id('d'))?.state).toMatchObject({ n: 2, v: [21] });
  });

  it('an unreadable snapshot starts the device empty instead of failing it', async () => {
    const store = new MemoryStateStore();
    store.save(id('d'), { something: 'else' }, { epoch: 1, expectedVersion: 0 });
    const system = boot(store);
    expect(await status(system, 'd')).toMatchObject({ online: false, messages: 0 });
    send(system, 'd', { t: 1 });
    expect((await status(system, 'd')).messages).toBe(1);
  });

  it('a throwing event sink or status sink does not break the device', async () => {
    const system = boot(undefined, {
      events: {
        transition: () => {
          throw new Error('downstream down');
        },
      },
      statusSink: {
        update: () => {
          throw new Error('db down');
        },
      },
    });
    send(system, 'd', { t: 1 });
    expect(await status(system, 'd')).toMatchObject({ online: true, messages: 1 });
  });
});

describe('idle passivation', () => {
  it('an offline device leaves memory when idle and comes back from its snapshot', async () => {
    const system = boot(new MemoryStateStore(), { idleTimeoutMs: 20 * MIN });
    send(system, 'd', { temperature: 5 });
    await advance(OFFLINE);
    expect(system.isActive(id('d'))).toBe(true); // online devices tick, so they stay resident
    await advance(25 * MIN);
    expect(system.isActive(id('d'))).toBe(false);
    expect(await status(system, 'd')).toMatchObject({
      online: false,
      messages: 1,
      metrics: { temperature: { value: 5, ts: T0 } },
    });
    expect(transitions()).toEqual(['d:on@0', `d:off@${OFFLINE}`]);
  });
});

/** Copies state through JSON text, like the PostgreSQL store (JSONB). */
class JsonStore implements StateStore {
  private readonly inner = new MemoryStateStore();
  claim(id: ActorId, epoch: number): StoredState | undefined {
    return this.inner.claim(id, epoch);
  }
  save(id: ActorId, state: unknown, fence: SaveFence): number {
    return this.inner.save(id, JSON.parse(JSON.stringify(state)), fence);
  }
  delete(id: ActorId, fence: SaveFence): void {
    this.inner.delete(id, fence);
  }
}

/** A store whose saves fail (asynchronously, like a lost database) while `failing` is set. */
class FlakyStore extends MemoryStateStore {
  failing = false;
  attempts = 0;
  override save(id: ActorId, state: unknown, fence: SaveFence): number {
    this.attempts++;
    if (this.failing) throw new Error('database unavailable');
    return super.save(id, state, fence);
  }
}
