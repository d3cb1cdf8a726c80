import { afterEach, describe, expect, it } from 'vitest';
import {
  ActorSystem,
  defineActor,
  MemoryReminderStore,
  MemoryStateStore,
  type ReminderFired,
  silentLogger,
} from '../../runtime/index.ts';
import { sleep } from './fixtures.ts';

type AlarmMessage =
  | { type: 'arm'; delayMs: number; repeat?: boolean }
  | { type: 'ring' }
  | { type: 'disarm' }
  | { type: 'remind'; dueInMs: number; periodMs?: number; name?: string }
  | { type: 'forget'; name: string }
  | { type: 'rings' }
  | { type: 'reminded' };

const rings: string[] = [];

const alarm = defineActor<{ rings: number; reminded: ReminderFired[] }, AlarmMessage>()({
  kind: 'alarm',
  initialState: () => ({ rings: 0, reminded: [] }),
  handlers: {
    arm(ctx, m) {
      ctx.setTimer('bell', m.delayMs, { type: 'ring' }, { repeat: m.repeat ?? false });
    },
    ring(ctx) {
      ctx.state.rings++;
      rings.push(ctx.key);
    },
    disarm(ctx) {
      ctx.clearTimer('bell');
    },
    async remind(ctx, m) {
      await ctx.setReminder(m.name ?? 'wake', {
        dueInMs: m.dueInMs,
        periodMs: m.periodMs,
        data: { why: 'test' },
      });
    },
    async forget(ctx, m) {
      await ctx.clearReminder(m.name);
    },
    rings: (ctx) => ctx.state.rings,
    reminded: (ctx) => ctx.state.reminded,
  },
  onReminder(ctx, fired) {
    ctx.state.reminded.push(fired);
  },
});

const systems: ActorSystem[] = [];
function start(stateStore = new MemoryStateStore(), reminderStore = new MemoryReminderStore()) {
  const system = new ActorSystem({
    logger: silentLogger,
    stateStore,
    reminderStore,
    reminderPollIntervalMs: 50,
  });
  system.register(alarm);
  systems.push(system);
  return system;
}

afterEach(async () => {
  await Promise.all(systems.splice(0).map((s) => s.shutdown()));
  rings.length = 0;
});

describe('timers', () => {
  it('fire into the mailbox, repeat, and can be cleared', async () => {
    const system = start();
    await system.ask('alarm/a', { type: 'arm', delayMs: 10, repeat: true });
    await sleep(65);
    await system.ask('alarm/a', { type: 'disarm' });
    const count = await system.ask<number>('alarm/a', { type: 'rings' });
    expect(count).toBeGreaterThanOrEqual(2);
    await sleep(40);
    expect(await system.ask('alarm/a', { type: 'rings' })).toBe(count);
  });

  it('die with the activation on passivation', async () => {
    const system = start();
    await system.ask('alarm/b', { type: 'arm', delayMs: 30 });
    await system.deactivate('alarm/b');
    await sleep(60);
    expect(rings).toEqual([]);
    expect(system.isActive('alarm/b')).toBe(false);
  });
});

describe('durable reminders', () => {
  it('wake a passivated actor with the reminder data', async () => {
    const system = start();
    await system.ask('alarm/c', { type: 'remind', dueInMs: 30 });
    await system.deactivate('alarm/c');
    await sleep(120);
    const reminded = await system.ask<ReminderFired[]>('alarm/c', { type: 'reminded' });
    expect(reminded).toHaveLength(1);
    expect(reminded[0]).toMatchObject({ name: 'wake', data: { why: 'test' } });
    expect(await system.reminderStore.list('alarm/c')).toEqual([]);
  });

  it('survive a restart of the whole system (same stores)', async () => {
    const stateStore = new MemoryStateStore();
    const reminderStore = new MemoryReminderStore();
    const first = start(stateStore, reminderStore);
    await first.ask('alarm/d', { type: 'remind', dueInMs: 150 });
    await first.shutdown();
    const second = start(stateStore, reminderStore);
    await sleep(300);
    const reminded = await second.ask<ReminderFired[]>('alarm/d', { type: 'reminded' });
    expect(reminded.map((r) => r.name)).toEqual(['wake']);
  });

  it('repeat with a period and stop when cleared', async () => {
    const system = start();
    await system.ask('alarm/e', { type: 'remind', dueInMs: 10, periodMs: 25, name: 'tick' });
    await sleep(120);
    await system.ask('alarm/e', { type: 'forget', name: 'tick' });
    const fired = (await system.ask<ReminderFired[]>('alarm/e', { type: 'reminded' })).length;
    expect(fired).toBeGreaterThanOrEqual(2);
    await sleep(80);
    expect((await system.ask<ReminderFired[]>('alarm/e', { type: 'reminded' })).length).toBe(fired);
    expect(await system.reminderStore.list('alarm/e')).toEqual([]);
  });
});

describe('a reminder set again by its own firing', () => {
  // A "next step" actor re-arms its one reminder from onReminder: the firing's completion must
  // not delete the new due time (same time) nor leave it unarmed until the next poll.
  const steps = defineActor<{ fired: number[] }, { type: 'start' } | { type: 'fired' }>()({
    kind: 'stepper',
    initialState: () => ({ fired: [] }),
    handlers: {
      async start(ctx) {
        await ctx.setReminder('step', { dueInMs: 20 });
      },
      fired: (ctx) => ctx.state.fired,
    },
    async onReminder(ctx, fired) {
      ctx.state.fired.push(fired.dueAt);
      if (ctx.state.fired.length === 1) await ctx.setReminder('step', { at: fired.dueAt });
      else if (ctx.state.fired.length === 2) await ctx.setReminder('step', { dueInMs: 30 });
    },
  });

  it('keeps the reminder, at the same or a later time, and fires it again', async () => {
    const store = new MemoryReminderStore();
    const system = new ActorSystem({
      logger: silentLogger,
      stateStore: new MemoryStateStore(),
      reminderStore: store,
      // Long poll: only the re-arming after the firing can make the later steps fire in time.
      reminderPollIntervalMs: 60_000,
    });
    systems.push(system);
    system.register(steps);
    await system.ask('stepper/a', { type: 'start' });
    const deadline = Date.now() + 3_000;
    let fired: number[] = [];
    while (Date.now() < deadline && fired.length < 3) {
      await sleep(20);
      fired = await system.ask<number[]>('stepper/a', { type: 'fired' });
    }
    expect(fired).toHaveLength(3);
    expect(fired[1]).toBe(fired[0]);
    expect(await store.due(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
  });
});
