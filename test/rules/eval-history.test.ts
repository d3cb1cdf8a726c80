import { describe, expect, it } from 'vitest';
import { MAX_WINDOW_READINGS, MetricHistory } from '../../actors/rules/eval/history.ts';

describe('MetricHistory', () => {
  it('keeps the latest and previous reading per metric', () => {
    const h = new MetricHistory(0);
    h.record({ t: 1, s: 'a' }, 10);
    h.record({ t: 2 }, 20);
    expect([h.latest('t'), h.latestTs('t'), h.previous('t'), h.previousTs('t')]).toEqual([
      2, 20, 1, 10,
    ]);
    expect([h.latest('s'), h.previous('s')]).toEqual(['a', undefined]);
    expect(h.lastSeen).toBe(20);
  });

  it('ignores older readings per metric, and exact redeliveries', () => {
    const h = new MetricHistory(0);
    h.record({ t: 1 }, 10);
    h.record({ t: 2, u: 7 }, 20);
    const seq = h.seq;
    expect(h.record({ t: 9 }, 15)).toBe(false);
    expect(h.record({ t: 2 }, 20)).toBe(false);
    expect(h.seq).toBe(seq);
    expect([h.latest('t'), h.previous('t')]).toEqual([2, 1]);
    // Older for t, new for v: only v is taken.
    h.record({ t: 5, v: 1 }, 18);
    expect([h.latest('t'), h.latest('v'), h.lastSeen]).toEqual([2, 1, 20]);
  });

  it('replaces a reading with the same time and another value, without shifting', () => {
    const h = new MetricHistory(0);
    h.record({ t: 1 }, 10);
    h.record({ t: 2 }, 20);
    h.record({ t: 3 }, 20);
    expect([h.latest('t'), h.previous('t')]).toEqual([3, 1]);
  });

  it('skips values that are not metric values', () => {
    const h = new MetricHistory(0);
    h.record(
      { a: Number.NaN, b: null, c: {}, d: Number.POSITIVE_INFINITY, e: 1 } as Record<
        string,
        unknown
      >,
      5,
    );
    expect(h.metrics()).toEqual(['e']);
    expect(h.record({ a: 1 }, Number.NaN)).toBe(false);
  });

  it('counts record calls that changed something, per metric too', () => {
    const h = new MetricHistory(0);
    h.record({ a: 1 }, 1);
    h.record({ b: 1 }, 2);
    h.record({}, 3);
    expect([h.seq, h.seqOf('a'), h.seqOf('b'), h.seqOf('c')]).toEqual([3, 1, 2, 0]);
  });

  it('windows only the metrics asked for, bounded, dropping what can no longer be inside', () => {
    const h = new MetricHistory(0, { t: 100 });
    for (let i = 0; i < 10; i++) h.record({ t: i, u: i }, i * 20);
    expect(h.windowReadings('u')).toBeUndefined();
    // Newest at 180; readings at least 100 older (<= 80) are gone.
    expect(h.windowReadings('t')?.ts).toEqual([100, 120, 140, 160, 180]);
    const big = new MetricHistory(0, { t: 1e9 });
    for (let i = 0; i < MAX_WINDOW_READINGS + 10; i++) big.record({ t: i }, i + 1);
    const kept = big.windowReadings('t')!;
    expect(kept.ts.length).toBe(MAX_WINDOW_READINGS);
    expect(kept.values[0]).toBe(10);
  });

  it('setWindows adds (seeded with the latest reading), resizes and drops windows', () => {
    const h = new MetricHistory(0);
    h.record({ t: 1, u: 'x' }, 10);
    h.setWindows({ t: 50, u: 50 });
    expect(h.windowReadings('t')).toEqual({ ts: [10], values: [1] });
    expect(h.windowReadings('u')).toEqual({ ts: [], values: [] });
    h.record({ t: 3 }, 20);
    expect(h.delta('t', 50, 20)).toBe(2);
    h.setWindows({});
    expect(h.windowReadings('t')).toBeUndefined();
    expect(h.delta('t', 50, 20)).toBeUndefined();
  });

  it('round-trips through JSON', () => {
    const h = new MetricHistory(5, { t: 1000 });
    h.record({ t: 1, s: 'a', b: true }, 10);
    h.record({ t: 2, s: 'b' }, 20);
    const copy = MetricHistory.fromJSON(JSON.parse(JSON.stringify(h)));
    expect(copy.toJSON()).toEqual(h.toJSON());
    expect([copy.createdAt, copy.seq, copy.lastSeen, copy.previous('s')]).toEqual([5, 2, 20, 'a']);
    copy.record({ t: 5 }, 30);
    h.record({ t: 5 }, 30);
    expect(copy.toJSON()).toEqual(h.toJSON());
  });

  it('fromJSON skips damaged entries and refuses what is not a snapshot', () => {
    const h = MetricHistory.fromJSON({
      c: 0,
      l: 'x',
      q: 3,
      m: [['ok', 1, 5, 1, null, null], ['bad', {}, 5, 1, null, null], 7],
      w: [['ok', 100, [1, 3, 2], [1, 2, 3]], ['x']],
    });
    expect(h.metrics()).toEqual(['ok']);
    expect(h.lastSeen).toBeUndefined();
    expect(h.windowReadings('ok')).toEqual({ ts: [1, 3], values: [1, 2] });
    expect(() => MetricHistory.fromJSON(null)).toThrow(/not a MetricHistory snapshot/);
    expect(() => MetricHistory.fromJSON({ m: [] })).toThrow(/not a MetricHistory snapshot/);
  });
});
