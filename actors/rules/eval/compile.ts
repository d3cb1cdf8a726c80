/**
 * compileRule: everything about a rule that does not depend on a device, worked out once per
 * rule version (durations parsed, conditions compiled, metrics and history needs collected)
 * so that evaluating a reading does no parsing.
 */
import { parseDuration } from '../format/duration.ts';
import { type Rule, SEVERITIES, type Severity, type SeveritySpec } from '../model.ts';
import { type CompiledCondition, compileCondition, type TimedLeaf } from './condition.ts';
import type { MetricHistory } from './history.ts';

export interface CompiledSeverity {
  readonly default: Severity;
  /** First matching band wins. */
  readonly bands: readonly { readonly when: CompiledCondition; readonly severity: Severity }[];
  /** Sorted by afterMs. */
  readonly escalate: readonly { readonly afterMs: number; readonly severity: Severity }[];
}

export interface CompiledRule {
  readonly rule: Rule;
  readonly trigger: CompiledCondition;
  /** The explicit clear condition (checked once the trigger no longer holds); may be undefined. */
  readonly clear: CompiledCondition | undefined;
  readonly forMs: number;
  /** Consecutive breaching readings required; 0 when the rule sets no count. */
  readonly count: number;
  readonly autoResolveMs: number | undefined;
  readonly severity: CompiledSeverity;
  /** Every metric the rule reads (trigger, clear, bands), without repeats. */
  readonly metrics: readonly string[];
  /** Every attribute the rule reads. */
  readonly attributes: readonly string[];
  /** Metric -> longest delta window (ms): what MetricHistory must keep for this rule. */
  readonly historyWindows: Readonly<Record<string, number>>;
  /** Any reading of the device is a reading for this rule (missing without metric, or no metric). */
  readonly anyTelemetry: boolean;
  /** Timed leaves of the trigger, of what resolves (clear and trigger), and of the bands. */
  readonly timed: {
    readonly trigger: readonly TimedLeaf[];
    readonly clear: readonly TimedLeaf[];
    readonly bands: readonly TimedLeaf[];
  };
}

/** Compiles a stored rule. Throws only on invalid input: a rule validateRule accepted never throws. */
export function compileRule(rule: Rule): CompiledRule {
  const trigger = compileCondition(rule.condition);
  const clear = rule.clear === undefined ? undefined : compileCondition(rule.clear);
  const severity = compileSeverity(rule.severity);
  const count = rule.count ?? 0;
  if (!Number.isInteger(count) || count < 0) throw new RangeError('count must be an integer >= 1');
  const parts = [
    trigger,
    ...(clear === undefined ? [] : [clear]),
    ...severity.bands.map((b) => b.when),
  ];
  const metrics = unique(parts.flatMap((p) => p.metrics));
  const historyWindows: Record<string, number> = {};
  for (const p of parts) {
    for (const [metric, ms] of Object.entries(p.windows)) {
      if (!(historyWindows[metric]! >= ms)) historyWindows[metric] = ms;
    }
  }
  return {
    rule,
    trigger,
    clear,
    forMs: rule.for === undefined ? 0 : parseDuration(rule.for),
    count,
    autoResolveMs:
      rule.autoResolveAfter === undefined ? undefined : parseDuration(rule.autoResolveAfter),
    severity,
    metrics,
    attributes: unique(parts.flatMap((p) => p.attributes)),
    historyWindows,
    anyTelemetry: metrics.length === 0 || parts.some((p) => p.anyTelemetry),
    timed: {
      trigger: trigger.timed,
      clear: clear === undefined ? trigger.timed : [...clear.timed, ...trigger.timed],
      bands: severity.bands.flatMap((b) => b.when.timed),
    },
  };
}

function compileSeverity(spec: SeveritySpec): CompiledSeverity {
  if (typeof spec === 'string') {
    return { default: severityName(spec), bands: [], escalate: [] };
  }
  if (spec === null || typeof spec !== 'object') throw new TypeError('invalid severity');
  return {
    default: severityName(spec.default),
    bands: (spec.bands ?? []).map((b) => ({
      when: compileCondition(b.when),
      severity: severityName(b.severity),
    })),
    escalate: (spec.escalate ?? [])
      .map((e) => ({ afterMs: parseDuration(e.after), severity: severityName(e.severity) }))
      .sort((a, b) => a.afterMs - b.afterMs),
  };
}

function severityName(s: unknown): Severity {
  if (!SEVERITIES.includes(s as Severity))
    throw new TypeError(`unknown severity ${JSON.stringify(s)}`);
  return s as Severity;
}

function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}

/** The history windows a device needs for all the rules that apply to it. */
export function mergeHistoryWindows(rules: Iterable<CompiledRule>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rules) {
    for (const [metric, ms] of Object.entries(r.historyWindows)) {
      if (!(out[metric]! >= ms)) out[metric] = ms;
    }
  }
  return out;
}

/** The newest reading sequence of the history that concerns `rule` (see MetricHistory.seq). */
export function relevantSeq(rule: CompiledRule, history: MetricHistory): number {
  if (rule.anyTelemetry) return history.seq;
  let seq = 0;
  for (const m of rule.metrics) {
    const s = history.seqOf(m);
    if (s > seq) seq = s;
  }
  return seq;
}

/** More severe of two severities. */
export function moreSevere(a: Severity, b: Severity): Severity {
  return SEVERITIES.indexOf(a) <= SEVERITIES.indexOf(b) ? a : b;
}
