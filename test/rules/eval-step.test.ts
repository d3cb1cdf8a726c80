import { describe, expect, it } from 'vitest';
import { MetricHistory } from '../../actors/rules/eval/history.ts';
import type { RuleEvalState } from '../../actors/rules/eval/step.ts';
import { Device, MIN, ruleOf, T0 } from './eval-fixtures.ts';

const hot = { metric: 't', op: '>', value: 30 } as const;

describe('stepRule', () => {
  it('fires with the values of the metrics the rule reads, and clears on NOT trigger', () => {
    const d = new Device(
      ruleOf({ condition: { any: [hot, { metric: 'h', op: '>', value: 80 }] } }),
    );
    expect(d.read(0, { t: 20, h: 50, other: 1 }).event).toBeUndefined();
    const fire = d.read(MIN, { t: 20, h: 90 });
    expect(fire.event).toEqual({ type: 'fire', severity: 'major', values: { t: 20, h: 90 } });
    expect(fire.state).toMatchObject({ firing: true, firedAt: T0 + MIN, severity: 'major' });
    expect(d.read(2 * MIN, { h: 85 }).event).toBeUndefined();
    expect(d.read(3 * MIN, { h: 70 }).event).toEqual({ type: 'clear', reason: 'condition' });
    expect(d.events()).toEqual(['fire:major@1', 'clear:condition@3']);
  });

  it('for: fires when the trigger held that long, at the tick wakeAt asked for', () => {
    const d = new Device(ruleOf({ condition: hot, for: '5m' }));
    expect(d.read(0, { t: 31 }).wakeAt).toBe(T0 + 5 * MIN);
    const early = d.tick(4 * MIN);
    expect(early.event).toBeUndefined();
    expect(early.wakeAt).toBe(T0 + 5 * MIN);
    expect(d.read(4.5 * MIN, { t: 35 }).wakeAt).toBe(T0 + 5 * MIN);
    expect(d.tick(5 * MIN).event?.type).toBe('fire');
  });

  it('for: a reading that breaks the run starts it over', () => {
    const d = new Device(ruleOf({ condition: hot, for: '5m' }));
    d.read(0, { t: 31 });
    const broken = d.read(3 * MIN, { t: 29 });
    expect(broken.state.pendingSince).toBeNull();
    expect(broken.wakeAt).toBeUndefined();
    expect(d.read(4 * MIN, { t: 31 }).wakeAt).toBe(T0 + 9 * MIN);
    expect(d.tick(5 * MIN).event).toBeUndefined();
    expect(d.tick(9 * MIN).event?.type).toBe('fire');
  });

  it('count: N consecutive breaching readings; ticks and other metrics do not count', () => {
    const d = new Device(ruleOf({ condition: hot, count: 3 }));
    d.read(0, { t: 31 });
    d.tick(MIN);
    d.read(2 * MIN, { u: 1 });
    expect(d.state?.consecutive).toBe(1);
    d.read(3 * MIN, { t: 32 });
    expect(d.read(4 * MIN, { t: 29 }).state.consecutive).toBe(0);
    d.read(5 * MIN, { t: 31 });
    d.read(6 * MIN, { t: 31 });
    expect(d.events()).toEqual([]);
    expect(d.read(7 * MIN, { t: 31 }).event?.type).toBe('fire');
  });

  it('for and count together need both', () => {
    const d = new Device(ruleOf({ condition: hot, for: '2m', count: 2 }));
    expect(d.read(0, { t: 31 }).wakeAt).toBeUndefined(); // count not reached: only a reading helps
    expect(d.tick(3 * MIN).event).toBeUndefined();
    expect(d.read(3.5 * MIN, { t: 31 }).event?.type).toBe('fire');
    const d2 = new Device(ruleOf({ condition: hot, for: '2m', count: 2 }));
    d2.read(0, { t: 31 });
    expect(d2.read(MIN, { t: 31 }).wakeAt).toBe(T0 + 2 * MIN);
    expect(d2.tick(2 * MIN).event?.type).toBe('fire');
  });

  it('hysteresis: a separate clear condition', () => {
    const d = new Device(ruleOf({ condition: hot, clear: { metric: 't', op: '<', value: 25 } }));
    d.read(0, { t: 31 });
    d.read(MIN, { t: 28 });
    d.read(2 * MIN, { t: 31 });
    d.read(3 * MIN, { t: 24 });
    d.read(4 * MIN, { t: 28 });
    d.read(5 * MIN, { t: 31 });
    expect(d.events()).toEqual(['fire:major@0', 'clear:condition@3', 'fire:major@5']);
  });

  it('default clear flaps where hysteresis would not', () => {
    const d = new Device(ruleOf({ condition: hot }));
    for (const [i, t] of [31, 28, 31, 24].entries()) d.read(i * MIN, { t });
    expect(d.events()).toEqual([
      'fire:major@0',
      'clear:condition@1',
      'fire:major@2',
      'clear:condition@3',
    ]);
  });

  it('autoResolveAfter: clears after silence, fires again only after a new reading', () => {
    const d = new Device(ruleOf({ condition: hot, autoResolveAfter: '10m' }));
    expect(d.read(0, { t: 31 }).wakeAt).toBe(T0 + 10 * MIN);
    expect(d.read(4 * MIN, { u: 1 }).wakeAt).toBe(T0 + 14 * MIN); // any telemetry counts
    expect(d.tick(13 * MIN).event).toBeUndefined();
    const cleared = d.tick(14 * MIN);
    expect(cleared.event).toEqual({ type: 'clear', reason: 'auto-resolve' });
    expect(cleared.wakeAt).toBeUndefined();
    // The stale value still breaches, but nothing fires until the device speaks.
    expect(d.tick(30 * MIN).event).toBeUndefined();
    expect(d.read(31 * MIN, { t: 33 }).event?.type).toBe('fire');
  });

  it('autoResolveAfter honours silenceFrom (a node restart is not device silence)', () => {
    const d = new Device(ruleOf({ condition: hot, autoResolveAfter: '10m' }));
    d.read(0, { t: 31 });
    d.silenceFrom = T0 + 60 * MIN;
    const after = d.tick(60 * MIN);
    expect(after.event).toBeUndefined();
    expect(after.wakeAt).toBe(T0 + 70 * MIN);
    expect(d.tick(70 * MIN).event?.type).toBe('clear');
  });

  it('severity bands: first match on the latest values, severity events while firing', () => {
    const d = new Device(
      ruleOf({
        condition: hot,
        severity: {
          default: 'minor',
          bands: [
            { when: { metric: 't', op: '>', value: 40 }, severity: 'critical' },
            { when: { metric: 't', op: '>', value: 35 }, severity: 'major' },
          ],
        },
      }),
    );
    for (const [i, t] of [31, 36, 37, 41, 32, 20].entries()) d.read(i * MIN, { t });
    expect(d.events()).toEqual([
      'fire:minor@0',
      'severity:major@1',
      'severity:critical@3',
      'severity:minor@4',
      'clear:condition@5',
    ]);
  });

  it('escalate: raises with time (wakeAt at each step), never lowered by bands', () => {
    const d = new Device(
      ruleOf({
        condition: hot,
        severity: {
          default: 'warning',
          bands: [{ when: { metric: 't', op: '>', value: 40 }, severity: 'major' }],
          escalate: [
            { after: '30m', severity: 'critical' },
            { after: '10m', severity: 'minor' },
          ],
        },
      }),
    );
    expect(d.read(0, { t: 31 }).wakeAt).toBe(T0 + 10 * MIN);
    expect(d.tick(10 * MIN)).toMatchObject({
      event: { type: 'severity', severity: 'minor' },
      wakeAt: T0 + 30 * MIN,
    });
    expect(d.read(11 * MIN, { t: 41 }).event).toMatchObject({ severity: 'major' });
    expect(d.read(12 * MIN, { t: 33 }).event).toMatchObject({ severity: 'minor' });
    const last = d.tick(30 * MIN);
    expect(last.event).toMatchObject({ severity: 'critical' });
    expect(last.wakeAt).toBeUndefined();
    expect(d.read(31 * MIN, { t: 50 }).event).toBeUndefined();
  });

  it('missing data: fires on the tick at the deadline, clears at the next reading', () => {
    const d = new Device(ruleOf({ condition: { op: 'missing', for: '10m' } }));
    expect(d.read(0, { t: 1 }).wakeAt).toBe(T0 + 10 * MIN);
    expect(d.read(5 * MIN, { u: 1 }).wakeAt).toBe(T0 + 15 * MIN);
    expect(d.tick(15 * MIN).event?.type).toBe('fire');
    expect(d.read(16 * MIN, { t: 2 }).event).toEqual({ type: 'clear', reason: 'condition' });
  });

  it('missing metric: a device that never sent it fires a period after the history started', () => {
    const d = new Device(ruleOf({ condition: { metric: 'battery', op: 'missing', for: '1h' } }));
    expect(d.read(0, { t: 1 }).wakeAt).toBe(T0 + 60 * MIN);
    expect(d.tick(60 * MIN).event?.type).toBe('fire');
  });

  it('delta: wakes when the window slides, and the alert clears then', () => {
    const d = new Device(
      ruleOf({ condition: { metric: 't', op: 'delta', window: '10m', cmp: '>', value: 3 } }),
    );
    expect(d.read(0, { t: 10 }).wakeAt).toBeUndefined(); // one reading: no delta yet
    const fire = d.read(2 * MIN, { t: 14 });
    expect(fire.event?.type).toBe('fire');
    expect(fire.wakeAt).toBe(T0 + 10 * MIN);
    expect(d.tick(10 * MIN).event).toEqual({ type: 'clear', reason: 'condition' });
  });

  it('no wakeAt when only a reading can change the outcome', () => {
    const d = new Device(ruleOf({ condition: hot }));
    expect(d.read(0, { t: 20 }).wakeAt).toBeUndefined();
    expect(d.read(MIN, { t: 31 }).wakeAt).toBeUndefined();
  });

  it('a rule added while the device breaches fires from a tick when it has no count', () => {
    const d = new Device(ruleOf({ condition: hot }));
    d.history.record({ t: 40 }, T0);
    expect(d.tick(MIN).event?.type).toBe('fire');
  });

  it('attribute thresholds per device', () => {
    const rule = ruleOf({
      condition: { metric: 't', op: '>', value: { attribute: 'maxTemp', default: 30 } },
    });
    const a = new Device(rule);
    const b = new Device(rule);
    b.attributes = { maxTemp: 20 };
    expect(a.read(0, { t: 25 }).event).toBeUndefined();
    expect(b.read(0, { t: 25 }).event?.type).toBe('fire');
  });

  it('survives a restart mid-for: persisted history and state fire on time', () => {
    const rule = ruleOf({ condition: hot, for: '5m', count: 2 });
    const before = new Device(rule);
    before.read(0, { t: 31 });
    before.read(MIN, { t: 32 });
    const saved = JSON.stringify({ h: before.history, s: before.state });
    const parsed = JSON.parse(saved) as { h: unknown; s: RuleEvalState };
    const after = new Device(rule);
    after.history = MetricHistory.fromJSON(parsed.h);
    after.state = parsed.s;
    expect(after.tick(4 * MIN)).toMatchObject({ wakeAt: T0 + 5 * MIN });
    expect(after.tick(5 * MIN).event?.type).toBe('fire');
  });
});

describe('stepRule with a history rebuilt from scratch', () => {
  it('keeps counting readings although the new sequence restarts below the saved one', () => {
    const rule = ruleOf({ condition: hot, count: 2 });
    const d = new Device(rule);
    for (let i = 0; i < 5; i++) d.read(i * MIN, { u: i, t: 20 });
    d.history = new MetricHistory(T0 + 10 * MIN);
    d.read(10 * MIN, { t: 31 });
    expect(d.read(11 * MIN, { t: 31 }).event?.type).toBe('fire');
  });
});

describe('stepRule edge cases found by the properties', () => {
  it('a clear condition that holds with the trigger does not resolve', () => {
    const d = new Device(ruleOf({ condition: hot, clear: { op: 'missing', for: '1m' } }));
    d.read(0, { t: 31 });
    expect(d.tick(5 * MIN).event).toBeUndefined();
    d.read(6 * MIN, { t: 20 });
    expect(d.tick(7 * MIN).event).toEqual({ type: 'clear', reason: 'condition' });
    expect(d.events()).toEqual(['fire:major@0', 'clear:condition@7']);
  });

  it('values older than autoResolveAfter open nothing, even when a for ends', () => {
    const d = new Device(ruleOf({ condition: hot, for: '10m', autoResolveAfter: '5m' }));
    expect(d.read(0, { t: 31 }).wakeAt).toBe(T0 + 10 * MIN);
    const tick = d.tick(10 * MIN);
    expect(tick.event).toBeUndefined();
    expect(tick.wakeAt).toBeUndefined();
    expect(d.read(11 * MIN, { t: 31 }).wakeAt).toBe(T0 + 21 * MIN);
  });
});
