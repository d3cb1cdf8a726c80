import { describe, expect, it } from 'vitest';
import { batteryPercent, deriveStatus, firmwareVersion } from '../../../actors/device/derived.ts';
import {
  ACTIVATED_AT,
  applyTelemetry,
  freshState,
  internNames,
  LAST_SEEN,
  METRIC_TS,
  reviveState,
  toStatus,
} from '../../../actors/device/state.ts';

const T0 = Date.UTC(2026, 0, 1);

describe('battery, firmware and signal extraction', () => {
  it.each([
    [87, 87],
    [0, 0],
    [100, 100],
    [1, 1], // percent, not a full fraction: the documented ambiguity
    [0.5, 50],
    [0.855, 85.5],
    [0.12345, 12.35],
    [3600, null], // millivolts are not a level
    [-5, null],
    [Number.NaN, null],
    ['85', null],
    [true, null],
  ] as const)('battery %s -> %s', (raw, level) => {
    expect(batteryPercent(raw)).toBe(level);
  });

  it.each([
    ['1.4.2', '1.4.2'],
    [2, '2'],
    ['', null],
    [false, null],
  ] as const)('firmware %s -> %s', (raw, version) => {
    expect(firmwareVersion(raw)).toBe(version);
  });

  it('takes the newest of several aliases and ignores unusable values', () => {
    const names = ['battery', 'batt', 'rssi', 'snr', 'fw', 'firmware'];
    const values = [90, 0.4, -101, 'loud', '1.0', '1.1'];
    const ts = [0, 0, 10, 20, 10, 10, 10, 30];
    expect(deriveStatus(names, values, ts, 2)).toEqual({
      battery: 40,
      rssi: -101,
      snr: null,
      firmware: '1.1',
    });
  });
});

describe('compact state', () => {
  it('shares one frozen name list between devices reporting the same metrics', () => {
    const a = freshState(T0);
    const b = freshState(T0);
    const metrics = { temperature: 21.5, humidity: 40, co2: 420 };
    applyTelemetry(a, T0, metrics, T0, 100);
    applyTelemetry(b, T0, { ...metrics }, T0, 100);
    expect(a.k).toBe(b.k);
    expect(Object.isFrozen(a.k)).toBe(true);
    // A new metric on one device moves it to another list and leaves the other device alone.
    applyTelemetry(a, T0 + 1, { pressure: 1013 }, T0 + 1, 100);
    expect(a.k).toEqual(['temperature', 'humidity', 'co2', 'pressure']);
    expect(b.k).toEqual(['temperature', 'humidity', 'co2']);
    expect(internNames(['temperature', 'humidity', 'co2'])).toBe(b.k);
  });

  it('keeps the arrays parallel: names, values, and [lastSeen, activatedAt, ...times]', () => {
    const s = freshState(T0);
    applyTelemetry(s, T0 + 5, { a: 1, b: 'x', c: true }, T0 + 7, 100);
    expect(s.n).toBe(1);
    expect(s.dirty).toBe(true);
    expect(s.k).toEqual(['a', 'b', 'c']);
    expect(s.v).toEqual([1, 'x', true]);
    expect(s.t).toEqual([T0 + 7, T0, T0 + 5, T0 + 5, T0 + 5]);
    expect(s.t[LAST_SEEN]).toBe(T0 + 7);
    expect(s.t[ACTIVATED_AT]).toBe(T0);
    expect(s.t.length).toBe(METRIC_TS + s.k.length);
  });

  it('skips values that are not metric values', () => {
    const s = freshState(T0);
    const metrics = { ok: 1, nan: Number.NaN, inf: Number.POSITIVE_INFINITY, obj: {}, nil: null };
    // Ingestion never sends these; the actor stays sane if something else does.
    applyTelemetry(s, T0, metrics as unknown as Record<string, number>, T0, 100);
    expect(s.k).toEqual(['ok']);
  });

  it('keeps at most maxMetrics, replacing the one updated longest ago', () => {
    const s = freshState(T0);
    applyTelemetry(s, T0 + 1, { a: 1 }, T0 + 1, 3);
    applyTelemetry(s, T0 + 2, { b: 2 }, T0 + 2, 3);
    applyTelemetry(s, T0 + 3, { c: 3 }, T0 + 3, 3);
    applyTelemetry(s, T0 + 4, { d: 4 }, T0 + 4, 3);
    expect(s.k).toEqual(['b', 'c', 'd']);
    // A metric the message carries is never the one evicted, even if it is the oldest.
    applyTelemetry(s, T0 + 1, { b: 20, e: 5 }, T0 + 5, 3);
    expect(s.k).toEqual(['b', 'd', 'e']);
    expect(s.v).toEqual([2, 4, 5]); // b's reading at T0+1 is older than the one held
    // More new names than room: the first maxMetrics of them.
    applyTelemetry(s, T0 + 6, { p: 1, q: 2, r: 3, s: 4 }, T0 + 6, 3);
    expect(s.k).toEqual(['p', 'q', 'r']);
  });

  it('revives a JSON snapshot into the compact form and refuses what is not one', () => {
    const s = freshState(T0);
    applyTelemetry(s, T0, { temperature: 21.5, fw: '1.0' }, T0, 100);
    s.on = true;
    const json = JSON.parse(JSON.stringify(s)) as unknown;
    const revived = reviveState(json, T0 + 1000);
    expect(revived).toBeDefined();
    expect(revived!.k).toBe(s.k); // re-shared
    expect(revived!.t[ACTIVATED_AT]).toBe(T0 + 1000);
    expect(revived!.dirty).toBe(false);
    expect(toStatus(revived!, 'acme', 'd1')).toEqual({
      ...toStatus(s, 'acme', 'd1'),
    });

    expect(reviveState(undefined, T0)).toBeUndefined();
    expect(reviveState({ temperature: 3 }, T0)).toBeUndefined();
    expect(reviveState({ on: true, n: 1, dirty: false, t: [T0], k: ['a'], v: [1] }, T0)).toBe(
      undefined,
    );
    // Bad entries are dropped, good ones kept.
    const partly = reviveState(
      { on: true, n: 2, dirty: true, t: [T0, 0, T0, null], k: ['a', 'b'], v: [1, 2] },
      T0,
    );
    expect(partly?.k).toEqual(['a']);
    expect(partly?.t).toEqual([T0, T0, T0]);
  });
});
