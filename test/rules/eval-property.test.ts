import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileRule, mergeHistoryWindows } from '../../actors/rules/eval/compile.ts';
import {
  compileCondition,
  type DeviceView,
  evaluateCondition,
} from '../../actors/rules/eval/condition.ts';
import { MetricHistory } from '../../actors/rules/eval/history.ts';
import { type RuleEvalState, stepRule } from '../../actors/rules/eval/step.ts';
import type { Condition, RuleDefinition, Scalar } from '../../actors/rules/model.ts';
import { METRICS, ruleArbitraries } from './format-arbitraries.ts';

const SEC = 1_000;
const T0 = Date.UTC(2026, 0, 1);

// Small numbers and durations, so that thresholds, windows and `for` actually come into play.
const smallDuration = fc
  .tuple(fc.integer({ min: 1, max: 20 }), fc.constantFrom('s', 'm'))
  .map(([n, u]) => `${n}${u}`);
const { conditionArb, ruleArb } = ruleArbitraries(fc.integer({ min: -5, max: 30 }), smallDuration);

const valueArb: fc.Arbitrary<Scalar> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -5, max: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom('on', 'off', '') },
  { weight: 1, arbitrary: fc.boolean() },
);
const metricsArb = fc.dictionary(fc.constantFrom(...METRICS), valueArb, { maxKeys: 4 });

interface Input {
  readonly gap: number;
  readonly kind: 'read' | 'tick';
  readonly metrics: Record<string, Scalar>;
}
const inputsArb = fc.array(
  fc.record({
    gap: fc.integer({ min: 1, max: 120 * SEC }),
    kind: fc.constantFrom('read' as const, 'read' as const, 'tick' as const),
    metrics: metricsArb,
  }),
  { minLength: 1, maxLength: 40 },
);
const attributesArb = fc.dictionary(fc.constantFrom('maxTemp', 'minTemp', 'mode'), valueArb, {
  maxKeys: 3,
});

function viewFrom(
  readings: readonly Input[],
  windows: Record<string, number>,
  attributes: Record<string, Scalar>,
): { view: DeviceView; now: number } {
  const history = new MetricHistory(T0, windows);
  let now = T0;
  for (const r of readings) {
    now += r.gap;
    if (r.kind === 'read') history.record(r.metrics, now);
  }
  return { view: { history, attributes }, now };
}

const windowsOf = (...cs: Condition[]) => {
  const out: Record<string, number> = {};
  for (const c of cs) {
    for (const [m, ms] of Object.entries(compileCondition(c).windows))
      out[m] = Math.max(out[m] ?? 0, ms);
  }
  return out;
};

const asRule = (d: RuleDefinition) => compileRule({ ...d, id: 'r', tenantId: 't', version: 1 });

describe('condition algebra', () => {
  const params = { numRuns: 300 };

  it('not not c == c', () => {
    fc.assert(
      fc.property(conditionArb, inputsArb, attributesArb, (c, inputs, attrs) => {
        const { view, now } = viewFrom(inputs, windowsOf(c), attrs);
        expect(evaluateCondition({ not: { not: c } }, view, now)).toBe(
          evaluateCondition(c, view, now),
        );
      }),
      params,
    );
  });

  it('De Morgan both ways', () => {
    fc.assert(
      fc.property(conditionArb, conditionArb, inputsArb, attributesArb, (a, b, inputs, attrs) => {
        const { view, now } = viewFrom(inputs, windowsOf(a, b), attrs);
        const ev = (c: Condition) => evaluateCondition(c, view, now);
        expect(ev({ not: { all: [a, b] } })).toBe(ev({ any: [{ not: a }, { not: b }] }));
        expect(ev({ not: { any: [a, b] } })).toBe(ev({ all: [{ not: a }, { not: b }] }));
      }),
      params,
    );
  });

  it('all and any of one condition are that condition', () => {
    fc.assert(
      fc.property(conditionArb, inputsArb, attributesArb, (c, inputs, attrs) => {
        const { view, now } = viewFrom(inputs, windowsOf(c), attrs);
        const expected = evaluateCondition(c, view, now);
        expect(evaluateCondition({ all: [c] }, view, now)).toBe(expected);
        expect(evaluateCondition({ any: [c] }, view, now)).toBe(expected);
      }),
      params,
    );
  });
});

interface Evaluation {
  readonly at: number;
  readonly trigger: boolean;
  readonly relevantReading: boolean;
}

/**
 * Drives one rule on one device: each input comes `gap` after the previous one, and every
 * wakeAt the rule asked for before then is honoured with a tick, as the device actor would.
 */
function simulate(
  rule: ReturnType<typeof asRule>,
  inputs: readonly Input[],
  attributes: Record<string, Scalar>,
  start?: {
    history: MetricHistory;
    state: RuleEvalState | undefined;
    now: number;
    wakeAt?: number;
  },
) {
  const history = start?.history ?? new MetricHistory(T0, mergeHistoryWindows([rule]));
  let state = start?.state;
  let now = start?.now ?? T0;
  let wakeAt = start?.wakeAt;
  const steps: string[] = [];
  const evaluations: Evaluation[] = [];
  const fires: { at: number; state: RuleEvalState }[] = [];
  const seqOf = () =>
    rule.anyTelemetry ? history.seq : Math.max(0, ...rule.metrics.map((m) => history.seqOf(m)));
  const step = (relevantReading: boolean) => {
    const view = { history, attributes };
    const out = stepRule(rule, state, view, now);
    state = out.state;
    wakeAt = out.wakeAt;
    if (wakeAt !== undefined && !(wakeAt > now))
      throw new Error(`wakeAt ${wakeAt} not after ${now}`);
    evaluations.push({
      at: now,
      trigger: evaluateCondition(rule.rule.condition, view, now),
      relevantReading,
    });
    if (out.event?.type === 'fire') fires.push({ at: now, state: out.state });
    steps.push(JSON.stringify(out));
  };
  for (const input of inputs) {
    const target = now + input.gap;
    while (wakeAt !== undefined && wakeAt <= target) {
      now = wakeAt;
      step(false);
    }
    now = target;
    if (input.kind === 'read') {
      const before = seqOf();
      history.record(input.metrics, now);
      step(seqOf() > before);
    } else step(false);
  }
  return { steps, evaluations, fires, history, state, now, wakeAt };
}

describe('stepRule properties', () => {
  it('never throws on arbitrary readings, out-of-order times included', () => {
    const anyMetrics = fc.dictionary(
      fc.oneof(fc.constantFrom(...METRICS), fc.string()),
      fc.anything({ maxDepth: 1 }),
      { maxKeys: 5 },
    );
    fc.assert(
      fc.property(
        ruleArb,
        fc.array(
          fc.tuple(fc.integer({ min: -60 * SEC, max: 300 * SEC }), fc.boolean(), anyMetrics),
          { maxLength: 30 },
        ),
        fc.dictionary(fc.string(), fc.anything({ maxDepth: 1 }), { maxKeys: 3 }),
        (definition, inputs, attributes) => {
          const rule = asRule(definition);
          const history = new MetricHistory(T0, rule.historyWindows);
          let state: RuleEvalState | undefined;
          let now = T0;
          for (const [dt, isReading, metrics] of inputs) {
            now += dt;
            if (isReading) history.record(metrics, now + dt);
            const view = { history, attributes: attributes as Record<string, Scalar> };
            state = stepRule(rule, state, view, now).state;
            JSON.stringify(state);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('fires only after the trigger held for `for` and for `count` readings', () => {
    fc.assert(
      fc.property(ruleArb, inputsArb, attributesArb, (definition, inputs, attrs) => {
        const rule = asRule(definition);
        const { evaluations, fires } = simulate(rule, inputs, attrs);
        for (const fire of fires) {
          const since = fire.state.pendingSince!;
          expect(fire.at - since).toBeGreaterThanOrEqual(rule.forMs);
          const run = evaluations.filter((e) => e.at >= since && e.at <= fire.at);
          expect(run.every((e) => e.trigger)).toBe(true);
          expect(run.filter((e) => e.relevantReading).length).toBeGreaterThanOrEqual(rule.count);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a state and history persisted as JSON give identical subsequent results', () => {
    fc.assert(
      fc.property(
        ruleArb,
        inputsArb,
        inputsArb,
        attributesArb,
        (definition, first, second, attrs) => {
          const rule = asRule(definition);
          const a = simulate(rule, first, attrs);
          const saved = JSON.parse(JSON.stringify({ h: a.history, s: a.state })) as {
            h: unknown;
            s: RuleEvalState | undefined;
          };
          const restarted = asRule(JSON.parse(JSON.stringify(definition)) as RuleDefinition);
          const continued = simulate(rule, second, attrs, a);
          const restored = simulate(restarted, second, attrs, {
            history: MetricHistory.fromJSON(saved.h),
            state: saved.s,
            now: a.now,
            wakeAt: a.wakeAt,
          });
          expect(restored.steps).toEqual(continued.steps);
        },
      ),
      { numRuns: 200 },
    );
  });
  it('wakeAt is never late: no tick before it (or ever, without one) changes the outcome', () => {
    fc.assert(
      fc.property(
        ruleArb,
        inputsArb,
        attributesArb,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { minLength: 1 }),
        (definition, inputs, attrs, probes) => {
          const rule = asRule(definition);
          const history = new MetricHistory(T0, rule.historyWindows);
          const view = { history, attributes: attrs };
          let state: RuleEvalState | undefined;
          let now = T0;
          let probe = 0;
          for (const input of inputs) {
            now += input.gap;
            if (input.kind === 'read') history.record(input.metrics, now);
            const out = stepRule(rule, state, view, now);
            state = out.state;
            const horizon = out.wakeAt ?? now + 4 * 3_600_000;
            const frac = probes[probe++ % probes.length]!;
            const at = Math.floor(now + 1 + frac * (horizon - now - 1));
            if (at <= now || at >= horizon) continue;
            const tick = stepRule(rule, state, view, at);
            expect(tick.event).toBeUndefined();
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
