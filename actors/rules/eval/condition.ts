/**
 * Conditions compiled to closures over a device's view, plus what a rule needs to know about
 * them up front: the metrics and attributes they read, the history windows they need, and the
 * leaves whose truth can change with time alone (for wake-up times).
 *
 * Semantics (docs/rules.md, "Missing data and types"):
 * - a comparison on a metric the device never reported is false: missing data does not breach;
 *   `missing` is the way to alert on absence (and `not` turns a false into a true, as written);
 * - a type mismatch (a string metric against a number, a number against a string) is false for
 *   every operator, `!=` included: only values of the same type are compared; `>`, `>=`, `<`, `<=`,
 *   `between` and `outside` compare numbers only;
 * - an attribute operand uses the device's attribute when it has the same type as the default,
 *   the default otherwise.
 */
import { parseDuration } from '../format/duration.ts';
import type { CompareOp, Condition, Operand, Scalar } from '../model.ts';
import type { MetricHistory } from './history.ts';

/** What a condition reads of one device. */
export interface DeviceView {
  readonly history: MetricHistory;
  /** The device's attributes (per-device limits for attribute operands). */
  readonly attributes?: Readonly<Record<string, Scalar>> | undefined;
  /**
   * Silence (`missing`, autoResolveAfter) counts from no earlier than this: pass the start of
   * the device actor's current activation, so that a node that was down does not find every
   * device silent when it comes back (the device actor's startup grace does the same).
   */
  readonly silenceFrom?: number | undefined;
}

export type ConditionTest = (view: DeviceView, now: number) => boolean;

/** A leaf whose truth can change while no reading arrives. */
export type TimedLeaf =
  | { readonly kind: 'missing'; readonly metric: string | undefined; readonly forMs: number }
  | { readonly kind: 'delta'; readonly metric: string; readonly windowMs: number };

export interface CompiledCondition {
  readonly test: ConditionTest;
  /** Metric names read, in first-use order, without repeats. */
  readonly metrics: readonly string[];
  /** Attribute names read. */
  readonly attributes: readonly string[];
  /** Metric -> longest `delta` window (ms) over it. */
  readonly windows: Readonly<Record<string, number>>;
  readonly timed: readonly TimedLeaf[];
  /** Contains `missing` without a metric: any reading of the device matters to it. */
  readonly anyTelemetry: boolean;
}

class Collector {
  readonly metrics = new Set<string>();
  readonly attributes = new Set<string>();
  readonly windows: Record<string, number> = {};
  readonly timed: TimedLeaf[] = [];
  anyTelemetry = false;
}

/** Compiles a condition; throws on an invalid one (validated conditions never throw). */
export function compileCondition(condition: Condition): CompiledCondition {
  const c = new Collector();
  const test = compile(condition, c, 0);
  return {
    test,
    metrics: [...c.metrics],
    attributes: [...c.attributes],
    windows: c.windows,
    timed: c.timed,
    anyTelemetry: c.anyTelemetry,
  };
}

const cache = new WeakMap<Condition, CompiledCondition>();

/** Whether `condition` holds for the device at `now` (compiled once per condition object). */
export function evaluateCondition(condition: Condition, view: DeviceView, now: number): boolean {
  let compiled = cache.get(condition);
  if (compiled === undefined) {
    compiled = compileCondition(condition);
    cache.set(condition, compiled);
  }
  return compiled.test(view, now);
}

/**
 * The earliest time after `now` at which one of `timed` may change its truth without a new
 * reading, or undefined. Conservative: a leaf whose change would not alter the whole
 * condition still counts (waking early is harmless, waking late is not).
 */
export function nextTimedChange(
  timed: readonly TimedLeaf[],
  view: DeviceView,
  now: number,
): number | undefined {
  let next: number | undefined;
  for (const leaf of timed) {
    const at =
      leaf.kind === 'missing'
        ? silentSince(view, leaf.metric) + leaf.forMs
        : view.history.deltaChangesAt(leaf.metric, leaf.windowMs, now);
    if (at !== undefined && at > now && (next === undefined || at < next)) next = at;
  }
  return next;
}

/**
 * Since when `metric` (or the device, when undefined) has been silent: its last reading, the
 * history's start when there was none, and never before view.silenceFrom.
 */
export function silentSince(view: DeviceView, metric: string | undefined): number {
  const h = view.history;
  const last = (metric === undefined ? h.lastSeen : h.latestTs(metric)) ?? h.createdAt;
  const floor = view.silenceFrom;
  return floor !== undefined && floor > last ? floor : last;
}

/** `a op b`; false when the types differ, and for ordering operators unless both are numbers. */
export function compareScalars(op: CompareOp, a: Scalar, b: Scalar): boolean {
  if (typeof a !== typeof b) return false;
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
  if (typeof a !== 'number' || typeof b !== 'number') return false;
  switch (op) {
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
  }
  return false;
}

type Resolve = (view: DeviceView) => Scalar;

function operand(o: Operand, c: Collector): Resolve {
  if (o !== null && typeof o === 'object') {
    const name = o.attribute;
    const fallback = o.default;
    if (typeof name !== 'string' || !isScalarLike(fallback)) {
      throw new TypeError(`invalid attribute operand ${JSON.stringify(o)}`);
    }
    c.attributes.add(name);
    const type = typeof fallback;
    return (view) => {
      const attrs = view.attributes;
      if (attrs === undefined || !Object.hasOwn(attrs, name)) return fallback;
      const v = attrs[name];
      return typeof v === type && (type !== 'number' || Number.isFinite(v)) ? v! : fallback;
    };
  }
  if (!isScalarLike(o)) throw new TypeError(`invalid operand ${JSON.stringify(o)}`);
  return () => o;
}

function isScalarLike(v: unknown): v is Scalar {
  return (
    typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))
  );
}

function metricName(name: unknown, c: Collector): string {
  if (typeof name !== 'string' || name === '')
    throw new TypeError('a condition needs a metric name');
  c.metrics.add(name);
  return name;
}

/** Keeps the longest window per metric: the history keeps readings for the longest one. */
function needWindow(c: Collector, metric: string, ms: number): void {
  const known = c.windows[metric];
  if (known === undefined || ms > known) c.windows[metric] = ms;
}

function compile(cond: Condition, c: Collector, depth: number): ConditionTest {
  if (depth > 64) throw new RangeError('condition nests too deep');
  if (cond === null || typeof cond !== 'object')
    throw new TypeError('a condition must be an object');
  if ('all' in cond) {
    const parts = children(cond.all, 'all').map((x) => compile(x, c, depth + 1));
    if (parts.length === 1) return parts[0]!;
    if (parts.length === 2) {
      const [a, b] = parts as [ConditionTest, ConditionTest];
      return (v, n) => a(v, n) && b(v, n);
    }
    return (v, n) => {
      for (const p of parts) if (!p(v, n)) return false;
      return true;
    };
  }
  if ('any' in cond) {
    const parts = children(cond.any, 'any').map((x) => compile(x, c, depth + 1));
    if (parts.length === 1) return parts[0]!;
    if (parts.length === 2) {
      const [a, b] = parts as [ConditionTest, ConditionTest];
      return (v, n) => a(v, n) || b(v, n);
    }
    return (v, n) => {
      for (const p of parts) if (p(v, n)) return true;
      return false;
    };
  }
  if ('not' in cond) {
    const inner = compile(cond.not, c, depth + 1);
    return (v, n) => !inner(v, n);
  }
  return compileLeaf(cond, c);
}

function compileLeaf(
  cond: Exclude<Condition, { all: unknown } | { any: unknown } | { not: unknown }>,
  c: Collector,
): ConditionTest {
  switch (cond.op) {
    case '>':
    case '>=':
    case '<':
    case '<=':
    case '==':
    case '!=': {
      const metric = metricName(cond.metric, c);
      const op = cond.op;
      const value = operand(cond.value, c);
      return (view) => {
        const v = view.history.latest(metric);
        return v !== undefined && compareScalars(op, v, value(view));
      };
    }
    case 'between':
    case 'outside': {
      const metric = metricName(cond.metric, c);
      const low = operand(cond.low, c);
      const high = operand(cond.high, c);
      const inside = cond.op === 'between';
      return (view) => {
        const v = view.history.latest(metric);
        const lo = low(view);
        const hi = high(view);
        // A range whose ends are not numbers, or inverted (attributes can do that), holds nothing.
        if (typeof v !== 'number' || typeof lo !== 'number' || typeof hi !== 'number' || lo > hi) {
          return false;
        }
        return inside ? lo <= v && v <= hi : v < lo || v > hi;
      };
    }
    case 'in':
    case 'not_in': {
      const metric = metricName(cond.metric, c);
      if (!Array.isArray(cond.values)) throw new TypeError(`${cond.op} needs a values array`);
      const values: readonly Scalar[] = cond.values.slice();
      const types = new Set(values.map((x) => typeof x));
      const member = cond.op === 'in';
      return (view) => {
        const v = view.history.latest(metric);
        // not_in holds only for a value of a type the list has: the type-mismatch rule again.
        if (v === undefined || !types.has(typeof v)) return false;
        return values.includes(v) === member;
      };
    }
    case 'changed': {
      const metric = metricName(cond.metric, c);
      return (view) => {
        const prev = view.history.previous(metric);
        return prev !== undefined && prev !== view.history.latest(metric);
      };
    }
    case 'delta': {
      const metric = metricName(cond.metric, c);
      const windowMs = parseDuration(cond.window);
      if (windowMs <= 0) throw new RangeError('a delta window must be longer than 0');
      const cmp = cond.cmp;
      const value = operand(cond.value, c);
      const abs = cond.abs === true;
      needWindow(c, metric, windowMs);
      c.timed.push({ kind: 'delta', metric, windowMs });
      return (view, now) => {
        if (typeof view.history.latest(metric) !== 'number') return false;
        const d = view.history.delta(metric, windowMs, now);
        return d !== undefined && compareScalars(cmp, abs ? Math.abs(d) : d, value(view));
      };
    }
    case 'rate': {
      const metric = metricName(cond.metric, c);
      const perMs = cond.per === undefined ? 60_000 : parseDuration(cond.per);
      if (perMs <= 0) throw new RangeError('a rate unit (per) must be longer than 0');
      const cmp = cond.cmp;
      const value = operand(cond.value, c);
      const abs = cond.abs === true;
      return (view) => {
        const h = view.history;
        const v = h.latest(metric);
        const p = h.previous(metric);
        if (typeof v !== 'number' || typeof p !== 'number') return false;
        const dt = h.latestTs(metric)! - h.previousTs(metric)!;
        if (!(dt > 0)) return false;
        const r = ((v - p) / dt) * perMs;
        return compareScalars(cmp, abs ? Math.abs(r) : r, value(view));
      };
    }
    case 'missing': {
      const metric = cond.metric === undefined ? undefined : metricName(cond.metric, c);
      const forMs = parseDuration(cond.for);
      if (metric === undefined) c.anyTelemetry = true;
      c.timed.push({ kind: 'missing', metric, forMs });
      return (view, now) => now - silentSince(view, metric) >= forMs;
    }
    default: {
      const op: unknown = (cond as { op?: unknown }).op;
      if (op === undefined) throw new TypeError('a condition needs all, any, not or op');
      throw new TypeError(`unknown condition op ${JSON.stringify(op)}`);
    }
  }
}

function children(list: unknown, key: string): readonly Condition[] {
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(`\`${key}\` needs a non-empty array of conditions`);
  }
  return list;
}
