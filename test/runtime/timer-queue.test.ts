import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimerQueue } from '../../runtime/timer-queue.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('TimerQueue (all actor timers in one heap)', () => {
  it('fires timers in due order, whatever the insertion order (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 200 }),
        (delays) => {
          const queue = new TimerQueue();
          const fired: number[] = [];
          for (const [i, d] of delays.entries()) queue.schedule(`t${i}`, d, 0, () => fired.push(d));
          vi.advanceTimersByTime(10_001);
          expect(fired).toEqual([...delays].sort((a, b) => a - b));
          expect(queue.size).toBe(0);
        },
      ),
    );
  });

  it('skips cancelled timers and repeats periodic ones until cancelled', () => {
    const queue = new TimerQueue();
    const fired: string[] = [];
    const a = queue.schedule('a', 10, 0, () => fired.push('a'));
    queue.schedule('b', 20, 0, () => fired.push('b'));
    const tick = queue.schedule('tick', 5, 5, () => fired.push('tick'));
    queue.cancel(a);
    vi.advanceTimersByTime(22);
    queue.cancel(tick);
    vi.advanceTimersByTime(50);
    expect(fired.filter((f) => f === 'tick')).toHaveLength(4);
    expect(fired).toContain('b');
    expect(fired).not.toContain('a');
    expect(queue.size).toBe(0);
  });
});
