import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FlappingSpec } from '../../actors/rules/model.ts';
import {
  FlapTracker,
  InvalidFlappingSpecError,
  validateFlappingSpec,
} from '../../actors/rules/suppress/flapping.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1, 12);
const at = (minutes: number) => T0 + minutes * MIN;
/** More than 3 transitions within 10 minutes is flapping; it settles at 1 or fewer. */
const SPEC: FlappingSpec = { maxTransitions: 3, window: '10m' };

function trackerWith(minutes: number[], spec: FlappingSpec = SPEC): FlapTracker {
  const tracker = new FlapTracker(spec);
  for (const m of minutes) tracker.record(at(m));
  return tracker;
}

describe('FlapTracker thresholds', () => {
  it('maxTransitions within the window is not flapping; one more is', () => {
    const tracker = trackerWith([0, 1, 2]);
    expect(tracker.isFlapping(at(2))).toBe(false);
    tracker.record(at(3));
    expect(tracker.isFlapping(at(3))).toBe(true);
    expect(tracker.flappingSinceAt(at(3))).toBe(at(3));
  });

  it('transitions spread wider than the window never flap', () => {
    // Four transitions, but never more than 3 within any 10 minutes.
    const tracker = trackerWith([0, 4, 8, 10.5, 14, 18, 21]);
    expect(tracker.isFlapping(at(21))).toBe(false);
    expect(tracker.nextChange(at(21))).toBeUndefined();
  });

  it('the window is trailing and half-open: a transition exactly one window old has left it', () => {
    const tracker = trackerWith([0, 5, 6]);
    tracker.record(at(10));
    expect(tracker.isFlapping(at(10))).toBe(false);
  });
});

describe('FlapTracker settling (hysteresis)', () => {
  it('settles once at most half the threshold remains in the window, and says when', () => {
    const tracker = trackerWith([0, 1, 2, 3]);
    // Quiet from minute 3 on: it settles when minute 2 leaves the window, leaving 1 (minute 3).
    expect(tracker.nextChange(at(3))).toBe(at(12));
    expect(tracker.isFlapping(at(12) - 1)).toBe(true);
    expect(tracker.isFlapping(at(12))).toBe(false);
    expect(tracker.nextChange(at(12))).toBeUndefined();
  });

  it('keeps flapping while the rate stays between half the threshold and the threshold', () => {
    const tracker = trackerWith([0, 1, 2, 3]);
    // Then every 4 minutes: 3 in any window, at the threshold, not above it.
    for (let m = 7; m <= 60; m += 4) {
      tracker.record(at(m));
      expect([m, tracker.isFlapping(at(m))]).toEqual([m, true]);
    }
    expect(tracker.flappingSinceAt(at(59))).toBe(at(3));
  });

  it('after settling, it takes more than the threshold again to flap', () => {
    const tracker = trackerWith([0, 1, 2, 3]);
    expect(tracker.isFlapping(at(20))).toBe(false);
    for (const m of [20, 21, 22]) tracker.record(at(m));
    expect(tracker.isFlapping(at(22))).toBe(false);
    tracker.record(at(23));
    expect(tracker.isFlapping(at(23))).toBe(true);
    expect(tracker.flappingSinceAt(at(23))).toBe(at(23));
  });

  it('maxTransitions 1: settles only after a full window without transitions', () => {
    const spec = { maxTransitions: 1, window: '10m' };
    const tracker = trackerWith([0, 5], spec);
    expect(tracker.isFlapping(at(5))).toBe(true);
    expect(tracker.nextChange(at(5))).toBe(at(15));
  });
});

describe('FlapTracker state', () => {
  it('survives a JSON round trip', () => {
    const tracker = trackerWith([0, 1, 2, 3, 7]);
    const saved = JSON.parse(JSON.stringify(tracker.toJSON()));
    const restored = FlapTracker.fromJSON(SPEC, saved);
    expect(restored.toJSON()).toEqual(tracker.toJSON());
    for (const m of [7, 10, 13, 16, 17, 30]) {
      expect(restored.isFlapping(at(m))).toBe(tracker.isFlapping(at(m)));
    }
    expect(restored.nextChange(at(7))).toBe(tracker.nextChange(at(7)));
  });

  it('is bounded: keeps at most maxTransitions + 1 times', () => {
    const tracker = new FlapTracker(SPEC);
    for (let i = 0; i < 10_000; i++) tracker.record(T0 + i * 1000);
    expect(tracker.toJSON().t.length).toBe(4);
    expect(tracker.isFlapping(T0 + 9_999_000)).toBe(true);
  });

  it('drops times that left the window', () => {
    const tracker = trackerWith([0, 1]);
    tracker.record(at(30));
    expect(tracker.toJSON()).toEqual({ t: [at(30)], since: null });
  });

  it('reads damaged saved state as far as it can', () => {
    const saved = { t: [at(2), 'x', null, at(1), at(3), at(0)], since: 'yes' };
    const restored = FlapTracker.fromJSON(SPEC, saved as never);
    expect(restored.toJSON()).toEqual({ t: [at(0), at(1), at(2), at(3)], since: null });
    expect(new FlapTracker(SPEC, {} as never).toJSON()).toEqual({ t: [], since: null });
  });

  it('a transition out of order counts at the newest time', () => {
    const tracker = trackerWith([5]);
    tracker.record(at(1));
    expect(tracker.toJSON().t).toEqual([at(5), at(5)]);
  });
});

describe('validateFlappingSpec', () => {
  it.each([
    [{ maxTransitions: 3, window: '10m' }, []],
    [{ maxTransitions: 1000, window: '10m' }, []],
    [
      { maxTransitions: 1001, window: '10m' },
      ['flapping.maxTransitions: expected a whole number 1..1000'],
    ],
    [
      { maxTransitions: 0, window: '10m' },
      ['flapping.maxTransitions: expected a whole number 1..1000'],
    ],
    [
      { maxTransitions: 2.5, window: '10m' },
      ['flapping.maxTransitions: expected a whole number 1..1000'],
    ],
    [{ maxTransitions: 3, window: '0s' }, ['flapping.window: must be longer than 0']],
    [
      { maxTransitions: 3 },
      ['flapping.window: expected a duration like 500ms, 90s, 10m, 1h or 2d'],
    ],
    [[], ['flapping: expected an object with maxTransitions and window']],
  ])('%j', (spec, errors) => {
    expect(validateFlappingSpec(spec)).toEqual(errors);
  });

  it('the tracker refuses an invalid spec', () => {
    expect(() => new FlapTracker({ maxTransitions: 0, window: '1m' })).toThrow(
      InvalidFlappingSpecError,
    );
  });
});

/**
 * The definition, written the slow way: all transitions kept, flapping entered when a
 * transition leaves more than max in the trailing window, left when at most floor(max / 2) are.
 */
class Reference {
  private readonly times: number[] = [];
  private flapping = false;
  constructor(
    private readonly max: number,
    private readonly window: number,
  ) {}
  private count(now: number) {
    return this.times.filter((t) => t > now - this.window && t <= now).length;
  }
  record(at: number) {
    if (this.flapping && this.count(at) <= Math.floor(this.max / 2)) this.flapping = false;
    this.times.push(at);
    if (this.count(at) > this.max) this.flapping = true;
  }
  isFlapping(now: number) {
    return this.flapping && this.count(now) > Math.floor(this.max / 2);
  }
}

describe('FlapTracker against the definition (property)', () => {
  it('agrees on isFlapping and on when it settles', () => {
    const step = fc.record({
      gap: fc.integer({ min: 0, max: 8 * MIN }),
      record: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(step, { maxLength: 120 }),
        (max, windowMinutes, steps) => {
          const spec = { maxTransitions: max, window: `${windowMinutes}m` };
          let tracker = new FlapTracker(spec);
          const reference = new Reference(max, windowMinutes * MIN);
          let now = T0;
          for (const { gap, record } of steps) {
            now += gap;
            if (record) {
              tracker.record(now);
              reference.record(now);
              // Persisted and restored between messages, as the rule actor does.
              tracker = FlapTracker.fromJSON(spec, JSON.parse(JSON.stringify(tracker.toJSON())));
            }
            expect(tracker.isFlapping(now)).toBe(reference.isFlapping(now));
            const settles = tracker.nextChange(now);
            if (settles !== undefined) {
              expect(reference.isFlapping(settles - 1)).toBe(true);
              expect(reference.isFlapping(settles)).toBe(false);
            } else {
              expect(reference.isFlapping(now + windowMinutes * MIN)).toBe(
                reference.isFlapping(now),
              );
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
