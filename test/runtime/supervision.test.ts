import { afterEach, describe, expect, it } from 'vitest';
import {
  type ActorSystem,
  DeadLetteredError,
  defineActor,
  MemoryStateStore,
  UnknownMessageError,
} from '../../runtime/index.ts';
import { newSystem } from './fixtures.ts';

let system: ActorSystem;
afterEach(async () => {
  await system.shutdown();
});

describe('supervision', () => {
  it('dead-letters a message that fails on every attempt and keeps serving others', async () => {
    system = newSystem();
    await system.ask('counter/f', { type: 'add', by: 1 });
    const err = await system
      .ask('counter/f', { type: 'fail', message: 'boom' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadLetteredError);
    expect((err as DeadLetteredError).attempts).toBe(3);
    const letters = await system.deadLetters.list();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      actor: 'counter/f',
      messageType: 'fail',
      attempts: 3,
      error: 'boom',
      reason: 'handler-failed',
      message: { type: 'fail', message: 'boom' },
    });
    // Two consecutive failures restarted the activation from the store, which held nothing for
    // counter/f: the unsaved +1 is gone, as supervision promises.
    expect(await system.ask('counter/f', { type: 'get' })).toBe(0);
    const failures = await system.registry.getSingleMetricAsString('gito_actor_failures_total');
    expect(failures).toContain('gito_actor_failures_total{kind="counter"} 3');
    const dead = await system.registry.getSingleMetricAsString('gito_actor_dead_letters_total');
    expect(dead).toContain('gito_actor_dead_letters_total{kind="counter"} 1');
  });

  it('restarts from stored state after repeated failures, discarding unsaved changes', async () => {
    const store = new MemoryStateStore();
    system = newSystem({ stateStore: store });
    await system.ask('counter/r', { type: 'add', by: 7 });
    await system.deactivate('counter/r'); // stored: total 7
    await system.ask('counter/r', { type: 'add', by: 100 }); // unsaved: total 107
    // failUntilRestart fails twice on dirty state; the restart reloads total 7 (clean), third try
    // then fails once more by marking it dirty -> dead-lettered after 3 attempts.
    await system.ask('counter/r', { type: 'failUntilRestart' }).catch(() => undefined);
    expect(await system.ask('counter/r', { type: 'get' })).toBe(7);
    const restarts = await system.registry.getSingleMetricAsString('gito_actor_restarts_total');
    expect(restarts).toMatch(/gito_actor_restarts_total\{kind="counter"\} [1-9]/);
  });

  it('dead-letters an unknown message type at once and never calls inherited properties', async () => {
    system = newSystem();
    await expect(system.ask('counter/u', { type: 'nope' })).rejects.toBeInstanceOf(
      UnknownMessageError,
    );
    await expect(system.ask('counter/u', { type: 'constructor' })).rejects.toBeInstanceOf(
      UnknownMessageError,
    );
    await expect(system.ask('counter/u', { type: '__proto__' })).rejects.toBeInstanceOf(
      UnknownMessageError,
    );
    const letters = await system.deadLetters.list({ actor: 'counter/u' });
    expect(letters.map((l) => l.reason)).toEqual([
      'unknown-message',
      'unknown-message',
      'unknown-message',
    ]);
  });

  it('fails queued messages with a clear error when activation fails, and recovers later', async () => {
    let failActivation = true;
    const fragile = defineActor<{ n: number }, { type: 'ping' }>()({
      kind: 'fragile',
      initialState: () => ({ n: 0 }),
      onActivate() {
        if (failActivation) throw new Error('database unavailable');
      },
      handlers: { ping: () => 'pong' },
    });
    system = newSystem();
    system.register(fragile);
    await expect(system.ask('fragile/1', { type: 'ping' })).rejects.toThrow(
      /activation of fragile\/1 failed/,
    );
    expect(system.isActive('fragile/1')).toBe(false);
    failActivation = false;
    expect(await system.ask('fragile/1', { type: 'ping' })).toBe('pong');
    const letters = await system.deadLetters.list({ actor: 'fragile/1' });
    expect(letters[0]?.reason).toBe('activation-failed');
  });
});
