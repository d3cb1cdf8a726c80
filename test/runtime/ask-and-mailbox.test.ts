import { afterEach, describe, expect, it } from 'vitest';
import {
  type ActorSystem,
  AskTimeoutError,
  defineActor,
  MailboxFullError,
  Rejection,
} from '../../runtime/index.ts';
import { newSystem, sleep } from './fixtures.ts';

let system: ActorSystem;
afterEach(async () => {
  await system.shutdown();
});

describe('ask', () => {
  it('returns the handler result, typed through a ref', async () => {
    system = newSystem();
    const { counter } = await import('./fixtures.ts');
    const ref = system.ref(counter, 'typed');
    ref.tell({ type: 'add', by: 4 });
    const total: number = await ref.ask({ type: 'get' });
    expect(total).toBe(4);
  });

  it('rejects with AskTimeoutError when the deadline passes', async () => {
    system = newSystem();
    const err = await system
      .ask('counter/slow', { type: 'slowAdd', by: 1, delayMs: 200 }, { timeoutMs: 20 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AskTimeoutError);
    expect((err as AskTimeoutError).timeoutMs).toBe(20);
    expect((err as Error).message).toContain('counter/slow');
  });

  it('skips a queued ask whose deadline passed instead of running it', async () => {
    system = newSystem();
    system.tell('counter/q', { type: 'slowAdd', by: 1, delayMs: 60 });
    const late = system.ask('counter/q', { type: 'add', by: 100 }, { timeoutMs: 10 });
    await expect(late).rejects.toBeInstanceOf(AskTimeoutError);
    await sleep(80);
    expect(await system.ask('counter/q', { type: 'get' })).toBe(1);
    const text = await system.registry.getSingleMetricAsString('gito_actor_asks_expired_total');
    expect(text).toContain('gito_actor_asks_expired_total{kind="counter"} 1');
  });

  it('passes a Rejection straight to the asker without retry or dead letter', async () => {
    system = newSystem();
    const err = await system
      .ask('counter/r', { type: 'reject', reason: 'no' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Rejection);
    expect((err as Rejection).code).toBe('bad-request');
    expect(await system.deadLetters.list()).toHaveLength(0);
    expect(await system.ask('counter/r', { type: 'add', by: 1 })).toBe(1);
  });
});

describe('bounded mailbox', () => {
  it('rejects a message beyond capacity with MailboxFullError and counts it', async () => {
    const small = defineActor<{ seen: number }, { type: 'work' }>()({
      kind: 'small',
      mailboxCapacity: 3,
      initialState: () => ({ seen: 0 }),
      handlers: {
        work(ctx) {
          ctx.state.seen++;
          return ctx.state.seen;
        },
      },
    });
    system = newSystem();
    system.register(small);
    // Nothing runs until this synchronous code yields, so the fourth message overflows.
    system.tell('small/1', { type: 'work' });
    system.tell('small/1', { type: 'work' });
    system.tell('small/1', { type: 'work' });
    expect(() => system.tell('small/1', { type: 'work' })).toThrow(MailboxFullError);
    await expect(system.ask('small/1', { type: 'work' })).rejects.toBeInstanceOf(MailboxFullError);
    await system.whenIdle();
    expect(await system.ask('small/1', { type: 'work' })).toBe(4);
    const text = await system.registry.getSingleMetricAsString('gito_actor_mailbox_rejected_total');
    expect(text).toContain('gito_actor_mailbox_rejected_total{kind="small"} 2');
  });
});
