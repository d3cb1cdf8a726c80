/** Helpers for evaluator tests: views built from readings, and a device simulated over time. */

import { type CompiledRule, compileRule } from '../../actors/rules/eval/compile.ts';
import type { DeviceView } from '../../actors/rules/eval/condition.ts';
import { MetricHistory } from '../../actors/rules/eval/history.ts';
import { type RuleEvalState, type RuleStep, stepRule } from '../../actors/rules/eval/step.ts';
import type { RuleDefinition, Scalar } from '../../actors/rules/model.ts';

export const SEC = 1_000;
export const MIN = 60_000;
export const T0 = Date.UTC(2026, 2, 1, 12);

export type Reading = readonly [at: number, metrics: Record<string, Scalar>];

/** A view over a history that recorded `readings` (times relative to T0). */
export function viewOf(
  readings: readonly Reading[],
  options: {
    attributes?: Record<string, Scalar>;
    windows?: Record<string, number>;
    silenceFrom?: number;
  } = {},
): DeviceView {
  const history = new MetricHistory(T0, options.windows);
  for (const [at, metrics] of readings) history.record(metrics, T0 + at);
  return {
    history,
    attributes: options.attributes,
    silenceFrom: options.silenceFrom === undefined ? undefined : T0 + options.silenceFrom,
  };
}

export function ruleOf(definition: Partial<RuleDefinition> & Pick<RuleDefinition, 'condition'>) {
  return compileRule({
    name: 'test',
    scope: { type: 'tenant' },
    severity: 'major',
    ...definition,
    id: 'r1',
    tenantId: 't1',
    version: 1,
  });
}

export interface Logged extends RuleStep {
  readonly at: number;
  readonly kind: 'reading' | 'tick';
}

/** One device and one rule, driven by readings and ticks at times relative to T0. */
export class Device {
  history: MetricHistory;
  state: RuleEvalState | undefined;
  readonly log: Logged[] = [];
  attributes: Record<string, Scalar> | undefined;
  silenceFrom: number | undefined;

  constructor(
    readonly rule: CompiledRule,
    createdAt = T0,
  ) {
    this.history = new MetricHistory(createdAt, rule.historyWindows);
  }

  view(): DeviceView {
    return { history: this.history, attributes: this.attributes, silenceFrom: this.silenceFrom };
  }

  read(at: number, metrics: Record<string, Scalar>): Logged {
    this.history.record(metrics, T0 + at);
    return this.step(at, 'reading');
  }

  tick(at: number): Logged {
    return this.step(at, 'tick');
  }

  private step(at: number, kind: 'reading' | 'tick'): Logged {
    const out = stepRule(this.rule, this.state, this.view(), T0 + at);
    this.state = out.state;
    const logged = { ...out, at, kind };
    this.log.push(logged);
    return logged;
  }

  /** Events so far as `type@minute` (severity events carry their severity). */
  events(): string[] {
    return this.log
      .filter((l) => l.event !== undefined)
      .map((l) => {
        const e = l.event!;
        const what = e.type === 'clear' ? `clear:${e.reason}` : `${e.type}:${e.severity}`;
        return `${what}@${l.at / MIN}`;
      });
  }
}
