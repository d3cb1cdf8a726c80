/**
 * stepRule: one rule on one device, one evaluation. Pure: the outcome depends only on its
 * arguments, so replaying the same readings (preview, backtest, a restarted actor with its
 * persisted state) gives the same alerts.
 *
 * Call it after every reading and when a timer the previous step asked for (wakeAt) fires.
 * - The trigger holds: pendingSince is set the first time; each new reading of the rule's
 *   metrics adds one to the consecutive count (a timer tick does not). The alert fires when
 *   `for` has elapsed since pendingSince and the count reached `count`.
 * - The trigger stops holding (at a reading or a tick): both reset.
 * - Firing: the alert clears when the trigger no longer holds and the clear condition (if
 *   any) does: a separate clear condition gives hysteresis,
 *   or with `auto-resolve` when the device sent nothing for autoResolveAfter. After an
 *   auto-resolve, and while the device has been silent that long, nothing fires before a new
 *   reading. Severity follows the bands (first
 *   match on the latest values, else the default), raised by escalation steps with time; a
 *   change while firing is a `severity` event.
 */
import type { Scalar, Severity } from '../model.ts';
import { type CompiledRule, moreSevere, relevantSeq } from './compile.ts';
import { type DeviceView, nextTimedChange, silentSince } from './condition.ts';

/** A rule's evaluation state for one device: small, plain JSON (the device actor persists it). */
export interface RuleEvalState {
  /** The alert is open for this device. */
  readonly firing: boolean;
  /** Since when the trigger has held without interruption; null while it does not hold. */
  readonly pendingSince: number | null;
  /** Consecutive readings at which the trigger held. */
  readonly consecutive: number;
  /** When the alert fired; null while not firing. */
  readonly firedAt: number | null;
  /** Severity of the open alert; null while not firing. */
  readonly severity: Severity | null;
  /** Last evaluation at which the trigger held (aggregates count a device for a window after). */
  readonly lastBreach: number | null;
  /** The history's sequence for this rule's metrics at the last step: tells readings from ticks. */
  readonly seenSeq: number;
  /** Nothing fires before a new reading (after an auto-resolve, stale values, see stepRule). */
  readonly awaitReading: boolean;
}

export type RuleEvent =
  | { readonly type: 'fire'; readonly severity: Severity; readonly values: Record<string, Scalar> }
  | { readonly type: 'clear'; readonly reason: 'condition' | 'auto-resolve' }
  | {
      readonly type: 'severity';
      readonly severity: Severity;
      readonly values: Record<string, Scalar>;
    };

export interface RuleStep {
  readonly state: RuleEvalState;
  readonly event?: RuleEvent;
  /**
   * The earliest future time at which a tick could change the outcome without a new reading
   * (a `for` ending, a `missing` deadline, a delta window sliding, an auto-resolve deadline, an
   * escalation step); undefined when only a reading can.
   */
  readonly wakeAt?: number;
}

/** The only place a state is built (one hidden class for all of them). */
function makeState(
  firing: boolean,
  pendingSince: number | null,
  consecutive: number,
  firedAt: number | null,
  severity: Severity | null,
  lastBreach: number | null,
  seenSeq: number,
  awaitReading: boolean,
): RuleEvalState {
  return {
    firing,
    pendingSince,
    consecutive,
    firedAt,
    severity,
    lastBreach,
    seenSeq,
    awaitReading,
  };
}

export const INITIAL_RULE_STATE: RuleEvalState = Object.freeze(
  makeState(false, null, 0, null, null, null, 0, false),
);

function step(state: RuleEvalState, event?: RuleEvent, wakeAt?: number): RuleStep {
  if (event === undefined) return wakeAt === undefined ? { state } : { state, wakeAt };
  return wakeAt === undefined ? { state, event } : { state, event, wakeAt };
}

export function stepRule(
  rule: CompiledRule,
  state: RuleEvalState | undefined,
  view: DeviceView,
  now: number,
): RuleStep {
  const s = state ?? INITIAL_RULE_STATE;
  const seq = relevantSeq(rule, view.history);
  // Not `>`: a history rebuilt from scratch (lost snapshot) restarts its sequence at 0.
  const isReading = seq !== s.seenSeq;
  const trigger = rule.trigger.test(view, now);
  const lastBreach = trigger ? now : s.lastBreach;
  if (s.firing) return stepFiring(rule, s, view, now, trigger, lastBreach, seq);

  // A device silent for autoResolveAfter has stale values: they open nothing (the alert would
  // auto-resolve at once) until it sends again.
  const awaitReading = (s.awaitReading && !isReading) || (trigger && isStale(rule, view, now));
  if (!trigger || awaitReading) {
    const next = makeState(false, null, 0, null, null, lastBreach, seq, awaitReading);
    return step(
      next,
      undefined,
      awaitReading ? undefined : nextTimedChange(rule.timed.trigger, view, now),
    );
  }
  const pendingSince = s.pendingSince ?? now;
  const consecutive = s.consecutive + (isReading ? 1 : 0);
  if (now - pendingSince >= rule.forMs && consecutive >= rule.count) {
    const severity = severityAt(rule, view, now, now);
    const next = makeState(true, pendingSince, consecutive, now, severity, lastBreach, seq, false);
    const event: RuleEvent = { type: 'fire', severity, values: latestValues(rule, view) };
    return step(next, event, firingWake(rule, next, view, now));
  }
  const next = makeState(false, pendingSince, consecutive, null, null, lastBreach, seq, false);
  const forEnds = consecutive >= rule.count ? pendingSince + rule.forMs : undefined;
  return step(
    next,
    undefined,
    earliest(forEnds, nextTimedChange(rule.timed.trigger, view, now), now),
  );
}

function stepFiring(
  rule: CompiledRule,
  s: RuleEvalState,
  view: DeviceView,
  now: number,
  trigger: boolean,
  lastBreach: number | null,
  seq: number,
): RuleStep {
  if (isStale(rule, view, now)) {
    const next = makeState(false, null, 0, null, null, lastBreach, seq, true);
    return step(next, { type: 'clear', reason: 'auto-resolve' });
  }
  // A clear condition that holds together with the trigger does not resolve: otherwise such a
  // rule would open and resolve at every evaluation.
  if (!trigger && (rule.clear === undefined || rule.clear.test(view, now))) {
    const next = makeState(false, null, 0, null, null, lastBreach, seq, false);
    const wakeAt = nextTimedChange(rule.timed.trigger, view, now);
    return step(next, { type: 'clear', reason: 'condition' }, wakeAt);
  }
  const firedAt = s.firedAt ?? now;
  const severity = severityAt(rule, view, now, firedAt);
  const next = makeState(
    true,
    s.pendingSince,
    s.consecutive,
    firedAt,
    severity,
    lastBreach,
    seq,
    false,
  );
  const event: RuleEvent | undefined =
    severity === s.severity
      ? undefined
      : { type: 'severity', severity, values: latestValues(rule, view) };
  return step(next, event, firingWake(rule, next, view, now));
}

/** The device has been silent for the rule's autoResolveAfter. */
function isStale(rule: CompiledRule, view: DeviceView, now: number): boolean {
  return (
    rule.autoResolveMs !== undefined && now - silentSince(view, undefined) >= rule.autoResolveMs
  );
}

/** Band severity (first match, else the default), raised by the escalation steps reached. */
function severityAt(rule: CompiledRule, view: DeviceView, now: number, firedAt: number): Severity {
  const spec = rule.severity;
  let severity = spec.default;
  for (const band of spec.bands) {
    if (band.when.test(view, now)) {
      severity = band.severity;
      break;
    }
  }
  for (const e of spec.escalate) {
    if (now - firedAt < e.afterMs) break;
    severity = moreSevere(severity, e.severity);
  }
  return severity;
}

function firingWake(
  rule: CompiledRule,
  s: RuleEvalState,
  view: DeviceView,
  now: number,
): number | undefined {
  let wake = nextTimedChange(rule.timed.clear, view, now);
  if (rule.autoResolveMs !== undefined) {
    wake = earliest(wake, silentSince(view, undefined) + rule.autoResolveMs, now);
  }
  if (rule.severity.bands.length > 0)
    wake = earliest(wake, nextTimedChange(rule.timed.bands, view, now), now);
  const firedAt = s.firedAt ?? now;
  for (const e of rule.severity.escalate) {
    const at = firedAt + e.afterMs;
    if (at > now) {
      wake = earliest(wake, at, now);
      break;
    }
  }
  return wake;
}

/** The earlier of two optional times, ignoring any not after `now`. */
function earliest(a: number | undefined, b: number | undefined, now: number): number | undefined {
  const x = a !== undefined && a > now ? a : undefined;
  const y = b !== undefined && b > now ? b : undefined;
  if (x === undefined) return y;
  if (y === undefined) return x;
  return Math.min(x, y);
}

/** The latest value of every metric the rule reads (those the device has reported). */
export function latestValues(rule: CompiledRule, view: DeviceView): Record<string, Scalar> {
  const values: Record<string, Scalar> = {};
  for (const m of rule.metrics) {
    const v = view.history.latest(m);
    if (v !== undefined) values[m] = v;
  }
  return values;
}
