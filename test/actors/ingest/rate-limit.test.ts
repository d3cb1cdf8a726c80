import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyedRateLimiter } from '../../../actors/ingest/rate-limit.ts';

describe('KeyedRateLimiter', () => {
  it('lets a burst through, then the sustained rate', () => {
    const rl = new KeyedRateLimiter({ ratePerSecond: 1, burst: 5 });
    const t0 = 1_000_000;
    const first = Array.from({ length: 7 }, () => rl.allow('d1', t0));
    expect(first).toEqual([true, true, true, true, true, false, false]);
    expect(rl.allow('d1', t0 + 999)).toBe(false);
    expect(rl.allow('d1', t0 + 1000)).toBe(true);
    expect(rl.allow('d1', t0 + 1000)).toBe(false);
    // After a quiet spell the bucket is full again, but never above burst.
    let allowed = 0;
    for (let i = 0; i < 10; i++) if (rl.allow('d1', t0 + 60_000)) allowed++;
    expect(allowed).toBe(5);
  });

  it('holds the sustained rate over time', () => {
    const rl = new KeyedRateLimiter({ ratePerSecond: 10, burst: 20 });
    let allowed = 0;
    // 100 messages per second for 60 seconds.
    for (let t = 0; t < 60_000; t += 10) if (rl.allow('d1', t)) allowed++;
    expect(allowed).toBeGreaterThanOrEqual(20 + 10 * 60 - 1);
    expect(allowed).toBeLessThanOrEqual(20 + 10 * 60 + 1);
  });

  it('keeps keys independent', () => {
    const rl = new KeyedRateLimiter({ ratePerSecond: 1, burst: 1 });
    expect(rl.allow('a', 0)).toBe(true);
    expect(rl.allow('a', 0)).toBe(false);
    expect(rl.allow('b', 0)).toBe(true);
  });

  it('forgets idle keys: devices that went quiet keep no bucket', () => {
    const rl = new KeyedRateLimiter({ ratePerSecond: 10, burst: 20 }); // full after 2 s
    for (let i = 0; i < 200_000; i++) rl.allow(`dev-${i}`, i / 200); // all within 1 s
    expect(rl.size).toBe(200_000);
    rl.allow('dev-0', 3_000);
    expect(rl.size).toBeLessThanOrEqual(200_000);
    rl.allow('dev-0', 5_100);
    expect(rl.size).toBe(1);
    rl.sweep(60_000);
    expect(rl.size).toBe(0);
  });

  it('caps memory under a flood of distinct keys', () => {
    const rl = new KeyedRateLimiter({ ratePerSecond: 1, burst: 10, maxKeys: 1_000 });
    let maxSize = 0;
    let allowed = 0;
    for (let i = 0; i < 50_000; i++) {
      if (rl.allow(`k${i}`, 0)) allowed++;
      maxSize = Math.max(maxSize, rl.size);
    }
    expect(allowed).toBe(50_000);
    expect(maxSize).toBeLessThanOrEqual(2_000);
    expect(rl.earlyTurns).toBeGreaterThan(0);
  });

  it('validates its options', () => {
    expect(() => new KeyedRateLimiter({ ratePerSecond: 0, burst: 1 })).toThrow(RangeError);
    expect(() => new KeyedRateLimiter({ ratePerSecond: 1, burst: 0 })).toThrow(RangeError);
    expect(() => new KeyedRateLimiter({ ratePerSecond: Number.NaN, burst: 1 })).toThrow(RangeError);
  });

  it('eviction never changes a decision (against an unbounded reference)', () => {
    // The reference: the same buckets, one per key, never forgotten.
    class Reference {
      private readonly tat = new Map<string, number>();
      constructor(
        private readonly interval: number,
        private readonly burst: number,
      ) {}
      allow(key: string, now: number): boolean {
        const tat = Math.max(this.tat.get(key) ?? now, now);
        if (tat - now > (this.burst - 1) * this.interval) return false;
        this.tat.set(key, tat + this.interval);
        return true;
      }
    }
    const step = fc.record({
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      dt: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 5_000 }),
      ),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(step, { maxLength: 300 }),
        (rate, burst, steps) => {
          const rl = new KeyedRateLimiter({ ratePerSecond: rate, burst });
          const ref = new Reference(1000 / rate, burst);
          let now = 0;
          for (const { key, dt } of steps) {
            now += dt;
            expect(rl.allow(key, now)).toBe(ref.allow(key, now));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
