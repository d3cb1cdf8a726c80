/**
 * Replays recorded readings of devices through the same evaluator the device actors run
 * (stepRule on a MetricHistory), including the ticks a live device would have had between
 * readings (a `for` ending, `missing`, auto-resolve), and turns the per-device results into
 * the alerts the rule would have opened and resolved. Pure: no I/O, no clock.
 */
import { type CompiledRule, MetricHistory, type RuleEvalState, stepRule } from '../eval/index.ts';
import { parseDuration } from '../format/duration.ts';
import { type Scalar, SEVERITIES, type Severity } from '../model.ts';
import { isScheduleActive } from '../time/schedule.ts';

export interface Reading {
  readonly ts: number;
  readonly metrics: Readonly<Record<string, unknown>>;
}

/** One device's breach interval as the device actor would have reported it. */
export interface DeviceBreach {
  readonly deviceKey: string;
  readonly from: number;
  /** null: still breaching at the end of the range. */
  readonly to: number | null;
  readonly severity: Severity;
  readonly values: Readonly<Record<string, Scalar>>;
  readonly clearReason: 'condition' | 'auto-resolve' | null;
}

export interface BacktestAlert {
  /** null for an aggregate rule's alert. */
  readonly deviceKey: string | null;
  readonly openedAt: number;
  readonly resolvedAt: number | null;
  readonly severity: Severity;
  readonly values: Readonly<Record<string, unknown>>;
  readonly devices?: readonly string[];
}

/** Ticks between two readings are capped so a pathological rule cannot spin forever. */
const MAX_TICKS_PER_GAP = 10_000;

/**
 * Steps one device through its readings (sorted by time) and returns its breach intervals.
 * `to` is the end of the range: ticks run up to it after the last reading.
 */
export function replayDevice(
  rule: CompiledRule,
  deviceKey: string,
  readings: readonly Reading[],
  range: { readonly from: number; readonly to: number },
  attributes?: Readonly<Record<string, Scalar>>,
): { breaches: DeviceBreach[]; evaluations: number } {
  const history = new MetricHistory(range.from, rule.historyWindows);
  const view = { history, attributes, silenceFrom: range.from };
  let state: RuleEvalState | undefined;
  let wakeAt: number | undefined;
  let evaluations = 0;
  const breaches: DeviceBreach[] = [];
  let open: { from: number; severity: Severity; values: Record<string, Scalar> } | undefined;

  const apply = (now: number) => {
    const step = stepRule(rule, state, view, now);
    evaluations++;
    state = step.state;
    wakeAt = step.wakeAt;
    const e = step.event;
    if (e === undefined) return;
    if (e.type === 'fire') open = { from: now, severity: e.severity, values: e.values };
    else if (e.type === 'severity' && open !== undefined) {
      open.severity = moreSevere(open.severity, e.severity);
    } else if (e.type === 'clear' && open !== undefined) {
      breaches.push({ deviceKey, ...open, to: now, clearReason: e.reason });
      open = undefined;
    }
  };
  const tickUntil = (limit: number) => {
    let ticks = 0;
    while (wakeAt !== undefined && wakeAt <= limit && ticks++ < MAX_TICKS_PER_GAP) apply(wakeAt);
  };

  for (const r of readings) {
    if (r.ts < range.from || r.ts > range.to) continue;
    tickUntil(r.ts);
    history.record(r.metrics, r.ts);
    apply(r.ts);
  }
  tickUntil(range.to);
  if (open !== undefined) breaches.push({ deviceKey, ...open, to: null, clearReason: null });
  return { breaches, evaluations };
}

function moreSevere(a: Severity, b: Severity): Severity {
  return SEVERITIES.indexOf(a) <= SEVERITIES.indexOf(b) ? a : b;
}

/**
 * Per-device rules: one alert per breach, opened when the breach starts inside the rule's
 * schedule (a breach that starts outside opens at the schedule's next active minute while it
 * lasts; found by scanning minutes, which is what the rule actor's reminder does live).
 */
export function deviceAlerts(
  rule: CompiledRule,
  breaches: readonly DeviceBreach[],
): BacktestAlert[] {
  const schedule = rule.rule.schedule;
  const out: BacktestAlert[] = [];
  for (const b of breaches) {
    let openedAt: number | undefined = b.from;
    if (schedule !== undefined && !isScheduleActive(schedule, b.from)) {
      openedAt = undefined;
      const end = b.to ?? b.from + 7 * 86_400_000;
      for (let t = Math.ceil(b.from / 60_000) * 60_000; t < end; t += 60_000) {
        if (isScheduleActive(schedule, t)) {
          openedAt = t;
          break;
        }
      }
    }
    if (openedAt === undefined) continue;
    out.push({
      deviceKey: b.deviceKey,
      openedAt,
      resolvedAt: b.to,
      severity: b.severity,
      values: b.values,
    });
  }
  return out.sort((a, b) => a.openedAt - b.openedAt);
}

/**
 * Aggregate rules: a sweep over every device's breaches. A device counts while it breaches and
 * for `window` after; the alert opens when the count reaches the threshold and resolves when it
 * falls below clearBelow.
 */
export function aggregateAlerts(
  rule: CompiledRule,
  breaches: readonly DeviceBreach[],
  devicesInScope: number,
  rangeEnd: number,
): BacktestAlert[] {
  const spec = rule.rule.aggregate;
  if (spec === undefined) return [];
  const windowMs = parseDuration(spec.window);
  let threshold = spec.minDevices ?? Number.POSITIVE_INFINITY;
  if (spec.minPercent !== undefined) {
    threshold = Math.min(
      threshold,
      Math.max(1, Math.ceil((devicesInScope * spec.minPercent) / 100)),
    );
  }
  const clearBelow = spec.clearBelow ?? threshold;
  // +1 when a device starts counting, -1 when it stops (end of breach + window).
  const edges: Array<{ at: number; device: string; delta: 1 | -1 }> = [];
  for (const b of breaches) {
    edges.push({ at: b.from, device: b.deviceKey, delta: 1 });
    if (b.to !== null && b.to + windowMs <= rangeEnd) {
      edges.push({ at: b.to + windowMs, device: b.deviceKey, delta: -1 });
    }
  }
  edges.sort((a, b) => a.at - b.at || b.delta - a.delta);
  const counting = new Map<string, number>();
  const out: BacktestAlert[] = [];
  let open: { openedAt: number; devices: Set<string> } | undefined;
  for (const e of edges) {
    const n = (counting.get(e.device) ?? 0) + e.delta;
    if (n <= 0) counting.delete(e.device);
    else counting.set(e.device, n);
    const count = counting.size;
    if (open === undefined && count >= threshold) {
      open = { openedAt: e.at, devices: new Set(counting.keys()) };
    } else if (open !== undefined && count < clearBelow) {
      out.push({
        deviceKey: null,
        openedAt: open.openedAt,
        resolvedAt: e.at,
        severity: severityOf(rule),
        values: { devices: open.devices.size, threshold },
        devices: [...open.devices].sort(),
      });
      open = undefined;
    } else if (open !== undefined) {
      for (const d of counting.keys()) open.devices.add(d);
    }
  }
  if (open !== undefined) {
    out.push({
      deviceKey: null,
      openedAt: open.openedAt,
      resolvedAt: null,
      severity: severityOf(rule),
      values: { devices: open.devices.size, threshold },
      devices: [...open.devices].sort(),
    });
  }
  return out;
}

function severityOf(rule: CompiledRule): Severity {
  const s = rule.rule.severity;
  return typeof s === 'string' ? s : s.default;
}
