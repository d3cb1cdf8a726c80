/**
 * A device actor's state: what it keeps in memory and, unchanged, what it saves as its snapshot.
 *
 * A node holds a million of these, so the layout is chosen for V8's heap rather than for looks:
 *
 * - every number lives in an array. An array of numbers only is stored unboxed (8 bytes per
 *   number, updated in place); a number in an object field, or in a mixed array, is a separate
 *   heap object (16 more bytes, and a fresh allocation per write when the field may also hold
 *   null). So the times (last seen, activation, one per metric) share one number array, and the
 *   last values sit in their own array, unboxed too while they are all numbers;
 * - metric names are one frozen array shared by every device that reports the same names in the
 *   same order (devices of one type do), like V8's own hidden classes: a device pays nothing for
 *   its names. Shared arrays are never mutated; a new metric moves the device to another one;
 * - no per-metric objects, and arrays are allocated at their exact length (growing an array by
 *   push reserves room for 16 more elements).
 *
 * It is plain JSON data (booleans, numbers, strings, arrays): the runtime saves it as it is.
 */
import { deriveStatus } from './derived.ts';
import type { DeviceStatus, MetricReading, MetricValue } from './types.ts';

/** Index in `t` of the last receive time (meaningless while `n` is 0). */
export const LAST_SEEN = 0;
/** Index in `t` of when the current activation started (rewritten on every activation). */
export const ACTIVATED_AT = 1;
/** Index in `t` of the first metric's time: metric i's time is `t[METRIC_TS + i]`. */
export const METRIC_TS = 2;

export interface DeviceState {
  /** Online as last declared: a transition flips it. */
  on: boolean;
  /** Telemetry messages received over the device's life. */
  n: number;
  /** Changed since the last snapshot (saved and handed to the status sink). */
  dirty: boolean;
  /** `[lastSeen, activatedAt, time of metric 0, time of metric 1, ...]`, ms since the epoch. */
  t: number[];
  /** Metric names: a frozen array shared by all devices reporting the same names in order. */
  k: readonly string[];
  /** Last value of each metric, parallel to `k`. */
  v: MetricValue[];
  /**
   * Rule evaluation state (actors/rules/device-rules.ts DeviceRulesJSON), written just before
   * each save; null for devices no rule applies to.
   */
  x: unknown;
}

const NO_NAMES: readonly string[] = Object.freeze([]);

/** Distinct name lists shared at most; beyond this, devices with new lists keep their own. */
const MAX_SHAPES = 10_000;
const shapes = new Map<string, readonly string[]>();

/**
 * The shared, frozen array holding `names` (a copy of it the first time such a list is seen).
 * Bounded: once MAX_SHAPES lists are known, new lists are frozen copies that are not shared.
 */
export function internNames(names: readonly string[]): readonly string[] {
  if (names.length === 0) return NO_NAMES;
  const key = JSON.stringify(names);
  const known = shapes.get(key);
  if (known !== undefined) return known;
  const frozen = Object.freeze(names.slice());
  if (shapes.size < MAX_SHAPES) shapes.set(key, frozen);
  return frozen;
}

/** How many distinct name lists are shared right now (tests, diagnostics). */
export function sharedNameLists(): number {
  return shapes.size;
}

/** The only place a state object is built, so every state shares one V8 hidden class. */
function makeState(
  on: boolean,
  n: number,
  dirty: boolean,
  t: number[],
  k: readonly string[],
  v: MetricValue[],
  x: unknown,
): DeviceState {
  return { on, n, dirty, t, k, v, x };
}

/** A device never heard from, activated at `now`. */
export function freshState(now: number): DeviceState {
  return makeState(false, 0, false, [0, now], NO_NAMES, [], null);
}

export function isMetricValue(value: unknown): value is MetricValue {
  const type = typeof value;
  return type === 'string' || type === 'boolean' || (type === 'number' && Number.isFinite(value));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Rebuilds a state loaded from the store (a JSON copy: arrays without V8's layout, names not
 * shared) into the compact form, with `activatedAt = now` and clean. Entries that are not valid
 * metrics are dropped; returns undefined when the value is not a device snapshot at all.
 */
export function reviveState(stored: unknown, now: number): DeviceState | undefined {
  if (!isRecord(stored)) return undefined;
  const { on, n, t, k, v, x } = stored;
  if (
    typeof on !== 'boolean' ||
    typeof n !== 'number' ||
    !Number.isSafeInteger(n) ||
    n < 0 ||
    !Array.isArray(t) ||
    !Array.isArray(k) ||
    !Array.isArray(v) ||
    k.length !== v.length ||
    t.length !== k.length + METRIC_TS
  ) {
    return undefined;
  }
  const seen = n === 0 ? 0 : t[LAST_SEEN];
  if (typeof seen !== 'number' || !Number.isFinite(seen)) return undefined;
  const names: string[] = [];
  const values: MetricValue[] = [];
  const times: number[] = [seen, now];
  const unique = new Set<string>();
  for (let i = 0; i < k.length; i++) {
    const name: unknown = k[i];
    const value: unknown = v[i];
    const at: unknown = t[METRIC_TS + i];
    if (typeof name !== 'string' || unique.has(name) || !isMetricValue(value)) continue;
    if (typeof at !== 'number' || !Number.isFinite(at)) continue;
    unique.add(name);
    names.push(name);
    values.push(value);
    times.push(at);
  }
  // Exact-length copies (push leaves spare capacity behind).
  return makeState(
    on && n > 0,
    n,
    false,
    times.slice(),
    internNames(names),
    values.slice(),
    x ?? null,
  );
}

export function lastSeen(s: DeviceState): number | null {
  return s.n === 0 ? null : s.t[LAST_SEEN]!;
}

/**
 * Records one telemetry message: last value and time per metric (a reading older than the one
 * held is ignored for that metric), the last receive time (the newest one), the message count.
 * At most `maxMetrics` distinct metrics are kept: a new metric beyond that replaces the metric
 * updated longest ago among those the message does not carry. Does not touch `on`.
 */
export function applyTelemetry(
  s: DeviceState,
  ts: number,
  metrics: Readonly<Record<string, MetricValue>>,
  receivedAt: number,
  maxMetrics: number,
): void {
  s.n++;
  s.dirty = true;
  const t = s.t;
  if (s.n === 1 || receivedAt > t[LAST_SEEN]!) t[LAST_SEEN] = receivedAt;
  const k = s.k;
  const v = s.v;
  let missing: string[] | undefined;
  // Payloads of one device usually list their metrics in the same order as the shared names:
  // try the slot after the last match before searching.
  let hint = 0;
  for (const name in metrics) {
    const value = metrics[name];
    if (!isMetricValue(value)) continue;
    const i = hint < k.length && k[hint] === name ? hint : k.indexOf(name);
    if (i < 0) {
      missing ??= [];
      missing.push(name);
      continue;
    }
    hint = i + 1;
    if (ts >= t[METRIC_TS + i]!) {
      v[i] = value;
      t[METRIC_TS + i] = ts;
    }
  }
  if (missing !== undefined) addMetrics(s, missing, metrics, ts, maxMetrics);
}

/** The rare path: new metric names move the device to another (shared) name list. */
function addMetrics(
  s: DeviceState,
  missing: readonly string[],
  metrics: Readonly<Record<string, MetricValue>>,
  ts: number,
  maxMetrics: number,
): void {
  const added = missing.length > maxMetrics ? missing.slice(0, maxMetrics) : missing;
  const k = s.k;
  const room = maxMetrics - added.length;
  let kept: number[];
  if (k.length <= room) {
    kept = k.map((_, i) => i);
  } else {
    // Evict the metrics updated longest ago; those in this message go last.
    const rank = (i: number) =>
      Object.hasOwn(metrics, k[i]!) ? Number.POSITIVE_INFINITY : s.t[METRIC_TS + i]!;
    kept = k
      .map((_, i) => i)
      .sort((a, b) => rank(b) - rank(a) || a - b)
      .slice(0, room)
      .sort((a, b) => a - b);
  }
  const size = kept.length + added.length;
  const names = new Array<string>(size);
  const values = new Array<MetricValue>(size);
  const times = new Array<number>(METRIC_TS + size);
  times[LAST_SEEN] = s.t[LAST_SEEN]!;
  times[ACTIVATED_AT] = s.t[ACTIVATED_AT]!;
  let j = 0;
  for (const i of kept) {
    names[j] = k[i]!;
    values[j] = s.v[i]!;
    times[METRIC_TS + j] = s.t[METRIC_TS + i]!;
    j++;
  }
  for (const name of added) {
    names[j] = name;
    values[j] = metrics[name]!;
    times[METRIC_TS + j] = ts;
    j++;
  }
  s.k = internNames(names);
  s.v = values;
  s.t = times;
}

/** The status answer: built on demand from the compact state. */
export function toStatus(s: DeviceState, tenantId: string, deviceKey: string): DeviceStatus {
  // No prototype: a metric may be called `__proto__` or `constructor`.
  const metrics: Record<string, MetricReading> = Object.create(null);
  const { k, v, t } = s;
  for (let i = 0; i < k.length; i++) metrics[k[i]!] = { value: v[i]!, ts: t[METRIC_TS + i]! };
  const derived = deriveStatus(k, v, t, METRIC_TS);
  return {
    tenantId,
    deviceKey,
    online: s.on,
    lastSeen: lastSeen(s),
    metrics,
    battery: derived.battery,
    rssi: derived.rssi,
    snr: derived.snr,
    firmware: derived.firmware,
    messages: s.n,
  };
}
