import { afterEach, describe, expect, it } from 'vitest';
import {
  type ActorSystem,
  defineActor,
  type LifecycleEvent,
  MemoryStateStore,
  UnknownKindError,
} from '../../runtime/index.ts';
import { newSystem, sleep } from './fixtures.ts';

let system: ActorSystem;
afterEach(async () => {
  await system.shutdown();
});

describe('virtual activation', () => {
  it('activates on the first message, with onActivate before the first handler', async () => {
    const calls: string[] = [];
    const greeter = defineActor<{ greeted: number }, { type: 'hi' }>()({
      kind: 'greeter',
      initialState: () => ({ greeted: 0 }),
      onActivate(ctx) {
        calls.push(`activate:${ctx.key}`);
      },
      handlers: {
        hi(ctx) {
          calls.push('hi');
          return ++ctx.state.greeted;
        },
      },
    });
    system = newSystem();
    system.register(greeter);
    expect(system.isActive('greeter/ann')).toBe(false);
    expect(await system.ask('greeter/ann', { type: 'hi' })).toBe(1);
    expect(system.isActive('greeter/ann')).toBe(true);
    expect(calls).toEqual(['activate:ann', 'hi']);
  });

  it('passivates idle activations and reactivates them with state intact', async () => {
    const store = new MemoryStateStore();
    system = newSystem({ stateStore: store, idleTimeoutMs: 40, sweepIntervalMs: 10 });
    const events: LifecycleEvent[] = [];
    system.onLifecycle((e) => events.push(e));
    await system.ask('counter/p', { type: 'add', by: 5 });
    await sleep(120);
    expect(system.isActive('counter/p')).toBe(false);
    expect(store.peek('counter/p')?.state).toMatchObject({ total: 5 });
    expect(await system.ask('counter/p', { type: 'add', by: 1 })).toBe(6);
    expect(events.map((e) => e.type)).toEqual(['activated', 'deactivated', 'activated']);
  });

  it('waits for an async activation before the first turn', async () => {
    const slow = defineActor<{ ready: boolean }, { type: 'ready?' }>()({
      kind: 'slow',
      initialState: () => ({ ready: false }),
      async onActivate(ctx) {
        await sleep(10);
        ctx.state.ready = true;
      },
      handlers: { 'ready?': (ctx) => ctx.state.ready },
    });
    system = newSystem();
    system.register(slow);
    expect(await system.ask('slow/1', { type: 'ready?' })).toBe(true);
  });

  it('works with an asynchronous state store', async () => {
    const inner = new MemoryStateStore();
    const asyncStore = {
      claim: async (id: string, epoch: number) => inner.claim(id, epoch),
      save: async (id: string, state: unknown, fence: { epoch: number; expectedVersion: number }) =>
        inner.save(id, state, fence),
      delete: async () => {},
    };
    system = newSystem({ stateStore: asyncStore });
    await system.ask('counter/a', { type: 'add', by: 2 });
    await system.deactivate('counter/a');
    expect(inner.peek('counter/a')?.state).toMatchObject({ total: 2 });
    expect(await system.ask('counter/a', { type: 'add', by: 2 })).toBe(4);
  });

  it('processes messages sent while an activation is passivating on a fresh activation', async () => {
    const store = new MemoryStateStore();
    system = newSystem({ stateStore: store });
    await system.ask('counter/m', { type: 'add', by: 1 });
    const passivated = system.deactivate('counter/m');
    system.tell('counter/m', { type: 'add', by: 10 });
    await passivated;
    expect(await system.ask('counter/m', { type: 'get' })).toBe(11);
  });

  it('lets a handler ask for its own passivation', async () => {
    system = newSystem();
    await system.ask('counter/s', { type: 'add', by: 3 });
    await system.ask('counter/s', { type: 'stop' });
    await sleep(5);
    expect(system.isActive('counter/s')).toBe(false);
    expect(await system.ask('counter/s', { type: 'get' })).toBe(3);
  });

  it('refuses an unknown kind and a malformed identity or message with clear errors', async () => {
    system = newSystem();
    expect(() => system.tell('nosuch/1', { type: 'x' })).toThrow(UnknownKindError);
    expect(() => system.tell('no-slash', { type: 'x' })).toThrow(/expected 'kind\/key'/);
    expect(() => system.tell('counter/x', null as never)).toThrow(/string 'type'/);
    await expect(system.ask('nosuch/1', { type: 'x' })).rejects.toBeInstanceOf(UnknownKindError);
  });

  it('keeps state through save() checkpoints with increasing versions', async () => {
    const store = new MemoryStateStore();
    const saver = defineActor<{ n: number }, { type: 'bump' }>()({
      kind: 'saver',
      initialState: () => ({ n: 0 }),
      handlers: {
        async bump(ctx) {
          ctx.state.n++;
          await ctx.save();
        },
      },
    });
    system = newSystem({ stateStore: store });
    system.register(saver);
    await system.ask('saver/1', { type: 'bump' });
    await system.ask('saver/1', { type: 'bump' });
    expect(store.peek('saver/1')).toMatchObject({ state: { n: 2 }, version: 2 });
  });
});
