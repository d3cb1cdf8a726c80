/**
 * What a device remembers of its readings for rule evaluation: per metric the latest and the
 * previous reading (for `changed` and `rate`), and, only for the metrics `delta` conditions
 * watch, the numeric readings within the longest window any applicable rule asks for.
 *
 * Plain data behind a small class: toJSON/fromJSON give the snapshot the device actor persists,
 * so `for` counters, `changed` and `delta` survive restarts and rebalances.
 */
import type { Scalar } from '../model.ts';

/** Readings kept per windowed metric at most; beyond it the oldest is dropped. */
export const MAX_WINDOW_READINGS = 512;

interface Slot {
  value: Scalar;
  ts: number;
  /** `seq` of the record() call that last changed this metric. */
  seq: number;
  /** The reading before the latest one, or null before there is one. */
  prev: Scalar | null;
  prevTs: number | null;
}

interface Window {
  ms: number;
  /** Times and values of the numeric readings, oldest first. */
  ts: number[];
  v: number[];
}

/** The persisted form (short keys: a device actor saves one per device). */
export interface MetricHistoryJSON {
  /** createdAt */
  readonly c: number;
  /** lastSeen, null before the first reading */
  readonly l: number | null;
  /** seq */
  readonly q: number;
  /** [metric, value, ts, seq, previous value | null, previous ts | null] */
  readonly m: readonly (readonly [string, Scalar, number, number, Scalar | null, number | null])[];
  /** [metric, window ms, times, values] */
  readonly w: readonly (readonly [string, number, readonly number[], readonly number[]])[];
}

export function isScalar(value: unknown): value is Scalar {
  const type = typeof value;
  return type === 'string' || type === 'boolean' || (type === 'number' && Number.isFinite(value));
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export class MetricHistory {
  private readonly slots = new Map<string, Slot>();
  private readonly windows = new Map<string, Window>();
  private seqValue = 0;
  private lastSeenValue: number | undefined;

  /**
   * @param createdAt when the device's history started (its first activation): a metric that was
   *   never reported counts as missing since then.
   * @param windows metric -> longest `delta` window (ms) of the rules that apply to the device.
   */
  constructor(
    readonly createdAt: number,
    windows: Readonly<Record<string, number>> = {},
  ) {
    this.setWindows(windows);
  }

  /**
   * Increases by one with every record() that changed anything: a rule tells a new reading
   * from a timer tick by comparing it with the value it saw last.
   */
  get seq(): number {
    return this.seqValue;
  }

  /** Newest time passed to record(), whatever it carried; undefined before the first. */
  get lastSeen(): number | undefined {
    return this.lastSeenValue;
  }

  /**
   * Takes one message's readings at `ts` (on the clock `now` uses in evaluation: the receive
   * time is the safe choice for `missing`). Per metric, a reading older than the latest one is
   * ignored; one at the same time replaces it when its value differs (a correction) and is
   * ignored otherwise (a redelivery).
   * Values that are not finite numbers, strings or booleans are skipped.
   * Returns whether anything changed.
   */
  record(metrics: Readonly<Record<string, unknown>>, ts: number): boolean {
    if (!finite(ts)) return false;
    let changed = false;
    const seq = this.seqValue + 1;
    if (this.lastSeenValue === undefined || ts > this.lastSeenValue) {
      this.lastSeenValue = ts;
      changed = true;
    }
    for (const name in metrics) {
      if (!Object.hasOwn(metrics, name)) continue;
      const value = metrics[name];
      if (!isScalar(value)) continue;
      const slot = this.slots.get(name);
      if (slot === undefined) {
        this.slots.set(name, { value, ts, seq, prev: null, prevTs: null });
      } else if (ts > slot.ts) {
        slot.prev = slot.value;
        slot.prevTs = slot.ts;
        slot.value = value;
        slot.ts = ts;
        slot.seq = seq;
      } else if (ts === slot.ts && value !== slot.value) {
        slot.value = value;
        slot.seq = seq;
      } else continue;
      changed = true;
      const window = this.windows.get(name);
      if (window !== undefined && typeof value === 'number') addToWindow(window, value, ts);
    }
    if (changed) this.seqValue = seq;
    return changed;
  }

  /**
   * Sets which metrics keep a window and how long (the union of the rules' needs, see
   * mergeHistoryWindows). Readings already held are kept for metrics that stay windowed;
   * a newly windowed metric starts from its latest reading.
   */
  setWindows(windows: Readonly<Record<string, number>>): void {
    for (const name of [...this.windows.keys()]) {
      if (!Object.hasOwn(windows, name)) this.windows.delete(name);
    }
    for (const name of Object.keys(windows)) {
      const ms = windows[name]!;
      if (!(ms > 0)) continue;
      let window = this.windows.get(name);
      if (window === undefined) {
        window = { ms, ts: [], v: [] };
        const slot = this.slots.get(name);
        if (slot !== undefined && typeof slot.value === 'number') {
          window.ts.push(slot.ts);
          window.v.push(slot.value);
        }
        this.windows.set(name, window);
      } else window.ms = ms;
    }
  }

  has(metric: string): boolean {
    return this.slots.has(metric);
  }

  latest(metric: string): Scalar | undefined {
    return this.slots.get(metric)?.value;
  }

  latestTs(metric: string): number | undefined {
    return this.slots.get(metric)?.ts;
  }

  previous(metric: string): Scalar | undefined {
    return this.slots.get(metric)?.prev ?? undefined;
  }

  previousTs(metric: string): number | undefined {
    return this.slots.get(metric)?.prevTs ?? undefined;
  }

  /** `seq` of the last reading of `metric`; 0 if never reported. */
  seqOf(metric: string): number {
    return this.slots.get(metric)?.seq ?? 0;
  }

  /** Metric names held. */
  metrics(): string[] {
    return [...this.slots.keys()];
  }

  /**
   * latest - oldest of the numeric readings of `metric` less than `windowMs` old at `now`;
   * undefined (no delta) with fewer than two such readings or no window kept for the metric.
   */
  delta(metric: string, windowMs: number, now: number): number | undefined {
    const w = this.windows.get(metric);
    if (w === undefined) return undefined;
    const first = firstInWindow(w, windowMs, now);
    const last = w.ts.length - 1;
    if (first < 0 || first >= last) return undefined;
    return w.v[last]! - w.v[first]!;
  }

  /**
   * When the delta of `metric` over `windowMs` next changes without a new reading (its oldest
   * reading leaves the window), if it is defined now.
   */
  deltaChangesAt(metric: string, windowMs: number, now: number): number | undefined {
    const w = this.windows.get(metric);
    if (w === undefined) return undefined;
    const first = firstInWindow(w, windowMs, now);
    if (first < 0 || first >= w.ts.length - 1) return undefined;
    return w.ts[first]! + windowMs;
  }

  /** The window readings of `metric` (tests, diagnostics). */
  windowReadings(metric: string): { ts: readonly number[]; values: readonly number[] } | undefined {
    const w = this.windows.get(metric);
    return w === undefined ? undefined : { ts: w.ts.slice(), values: w.v.slice() };
  }

  toJSON(): MetricHistoryJSON {
    const m: [string, Scalar, number, number, Scalar | null, number | null][] = [];
    for (const [name, s] of this.slots) m.push([name, s.value, s.ts, s.seq, s.prev, s.prevTs]);
    const w: [string, number, number[], number[]][] = [];
    for (const [name, x] of this.windows) w.push([name, x.ms, x.ts.slice(), x.v.slice()]);
    return { c: this.createdAt, l: this.lastSeenValue ?? null, q: this.seqValue, m, w };
  }

  /**
   * Rebuilds a history from toJSON's output. Entries that do not have the expected shape are
   * skipped; a value that is not a snapshot at all throws a TypeError (start a fresh history).
   */
  static fromJSON(json: unknown): MetricHistory {
    if (json === null || typeof json !== 'object') {
      throw new TypeError('not a MetricHistory snapshot: expected an object');
    }
    const o = json as Partial<Record<keyof MetricHistoryJSON, unknown>>;
    if (!finite(o.c) || !finite(o.q)) {
      throw new TypeError('not a MetricHistory snapshot: c and q must be numbers');
    }
    const h = new MetricHistory(o.c);
    h.seqValue = o.q;
    h.lastSeenValue = finite(o.l) ? o.l : undefined;
    for (const e of Array.isArray(o.m) ? (o.m as unknown[]) : []) {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || !isScalar(e[1])) continue;
      if (!finite(e[2]) || !finite(e[3])) continue;
      const hasPrev = isScalar(e[4]) && finite(e[5]);
      h.slots.set(e[0], {
        value: e[1],
        ts: e[2],
        seq: e[3],
        prev: hasPrev ? (e[4] as Scalar) : null,
        prevTs: hasPrev ? (e[5] as number) : null,
      });
    }
    for (const e of Array.isArray(o.w) ? (o.w as unknown[]) : []) {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || !finite(e[1])) continue;
      const ts = Array.isArray(e[2]) ? (e[2] as unknown[]) : [];
      const v = Array.isArray(e[3]) ? (e[3] as unknown[]) : [];
      const window: Window = { ms: e[1], ts: [], v: [] };
      for (let i = 0; i < Math.min(ts.length, v.length, MAX_WINDOW_READINGS); i++) {
        const t = ts[i];
        const x = v[i];
        if (finite(t) && finite(x) && (window.ts.length === 0 || t > window.ts.at(-1)!)) {
          window.ts.push(t);
          window.v.push(x);
        }
      }
      h.windows.set(e[0], window);
    }
    return h;
  }
}

function addToWindow(w: Window, value: number, ts: number): void {
  const last = w.ts.length - 1;
  if (last >= 0 && w.ts[last]! === ts) {
    w.v[last] = value;
    return;
  }
  if (last >= 0 && w.ts[last]! > ts) return;
  w.ts.push(ts);
  w.v.push(value);
  // Readings at least a window older than the newest are never inside a window again.
  let drop = 0;
  while (drop < w.ts.length - 1 && ts - w.ts[drop]! >= w.ms) drop++;
  drop = Math.max(drop, w.ts.length - MAX_WINDOW_READINGS);
  if (drop > 0) {
    w.ts.splice(0, drop);
    w.v.splice(0, drop);
  }
}

/** Index of the oldest reading less than `windowMs` old at `now`, or -1. */
function firstInWindow(w: Window, windowMs: number, now: number): number {
  const ts = w.ts;
  for (let i = 0; i < ts.length; i++) {
    if (now - ts[i]! < windowMs) return i;
  }
  return -1;
}
