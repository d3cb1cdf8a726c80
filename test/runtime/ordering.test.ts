import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../runtime/index.ts';
import { defineActor } from '../../runtime/index.ts';
import { counter, newSystem, sleep } from './fixtures.ts';

let system: ActorSystem;
afterEach(async () => {
  await system.shutdown();
});

describe('turn-based execution', () => {
  it("processes one actor's messages in send order", async () => {
    system = newSystem();
    for (let i = 0; i < 1_000; i++) system.tell('counter/a', { type: 'log', value: i });
    const history = await system.ask<number[]>('counter/a', { type: 'history' });
    expect(history).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
  });

  it('never interleaves async turns of one activation', async () => {
    system = newSystem();
    // slowAdd reads, awaits, then writes: any interleaving would lose updates.
    const replies = await Promise.all(
      Array.from({ length: 20 }, () =>
        system.ref(counter, 'a').ask({ type: 'slowAdd', by: 1, delayMs: 1 }),
      ),
    );
    expect(await system.ask('counter/a', { type: 'get' })).toBe(20);
    expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('keeps at most one turn of an activation in flight, even with self-sends', async () => {
    let inTurn = 0;
    let maxInTurn = 0;
    const probe = defineActor<{ n: number }, { type: 'work'; left: number }>()({
      kind: 'probe',
      initialState: () => ({ n: 0 }),
      handlers: {
        async work(ctx, m) {
          inTurn++;
          maxInTurn = Math.max(maxInTurn, inTurn);
          if (m.left > 0) ctx.tell(ctx.id, { type: 'work', left: m.left - 1 });
          await sleep(0);
          ctx.state.n++;
          inTurn--;
        },
      },
    });
    system = newSystem();
    system.register(probe);
    system.ref(probe, 'x').tell({ type: 'work', left: 30 });
    system.ref(probe, 'x').tell({ type: 'work', left: 30 });
    await sleep(5);
    await system.whenIdle();
    expect(maxInTurn).toBe(1);
  });

  it("delivers each sender's messages in order under random concurrent senders (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 2 }), fc.boolean()),
          {
            minLength: 1,
            maxLength: 200,
          },
        ),
        async (plan) => {
          system = newSystem();
          // plan: [sender, target, yield-before-send]; each sender numbers its own messages.
          const seq = new Map<number, number>();
          const senders = [0, 1, 2, 3, 4].map(async (sender) => {
            for (const [s, target, yieldFirst] of plan) {
              if (s !== sender) continue;
              if (yieldFirst) await sleep(0);
              const n = seq.get(sender) ?? 0;
              seq.set(sender, n + 1);
              system.tell(`counter/t${target}`, { type: 'log', value: sender * 1_000_000 + n });
            }
          });
          await Promise.all(senders);
          for (const target of [0, 1, 2]) {
            const history = await system.ask<number[]>(`counter/t${target}`, { type: 'history' });
            for (const sender of [0, 1, 2, 3, 4]) {
              const mine = history.filter((v) => Math.floor(v / 1_000_000) === sender);
              expect(mine).toEqual([...mine].sort((a, b) => a - b));
            }
          }
          const total = (
            await Promise.all(
              [0, 1, 2].map((t) => system.ask<number[]>(`counter/t${t}`, { type: 'history' })),
            )
          ).reduce((sum, h) => sum + h.length, 0);
          expect(total).toBe(plan.length);
          await system.shutdown();
        },
      ),
      { numRuns: 40 },
    );
  });
});
